"""The REST API under `/services/data/vXX.X`: one endpoint table, services per resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.salesforce.api.base import Call, Endpoint, EndpointTable, Reply
from sandbox.salesforce.api.collections import CollectionsService
from sandbox.salesforce.api.composite import BatchService, CompositeService
from sandbox.salesforce.api.context import ApiLimits, Context
from sandbox.salesforce.api.describe import DescribeService, resources, versions
from sandbox.salesforce.api.query import QueryService
from sandbox.salesforce.api.sobjects import SObjectService


class RestApi:
    """Every REST resource, registered once; the table also replays composite subrequests."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.query = QueryService(ctx)
        sobjects = SObjectService(ctx)
        describe = DescribeService(ctx)
        collections = CollectionsService(ctx)

        def dispatch(method: str, url: str, body: Any, headers: Mapping[str, str]) -> Reply:
            return self.table.dispatch(method, url, body, headers)

        composite = CompositeService(ctx, dispatch)
        batch = BatchService(ctx, dispatch)
        q = self.query
        self.table = EndpointTable(
            [
                Endpoint("GET", "", resources),
                Endpoint("GET", "/limits", describe.limits),
                Endpoint("GET", "/query", lambda c: q.run(c, include_deleted=False)),
                Endpoint("GET", "/queryAll", lambda c: q.run(c, include_deleted=True)),
                Endpoint("GET", "/query/{locator}", lambda c: q.more(c, include_deleted=False)),
                Endpoint("GET", "/queryAll/{locator}", lambda c: q.more(c, include_deleted=True)),
                Endpoint("GET", "/sobjects", describe.global_describe),
                Endpoint("POST", "/composite", composite.run),
                Endpoint("POST", "/composite/batch", batch.run),
                Endpoint("POST", "/composite/sobjects", collections.create),
                Endpoint("PATCH", "/composite/sobjects", collections.update),
                Endpoint("DELETE", "/composite/sobjects", collections.delete),
                Endpoint("GET", "/composite/sobjects/{sobject}", collections.retrieve),
                Endpoint("POST", "/composite/sobjects/{sobject}", collections.retrieve_post),
                Endpoint("PATCH", "/composite/sobjects/{sobject}/{field}", collections.upsert),
                Endpoint("GET", "/sobjects/{sobject}", describe.root),
                Endpoint("POST", "/sobjects/{sobject}", sobjects.create),
                Endpoint("GET", "/sobjects/{sobject}/describe", describe.describe),
                Endpoint("GET", "/sobjects/{sobject}/updated", sobjects.updated),
                Endpoint("GET", "/sobjects/{sobject}/deleted", sobjects.deleted),
                Endpoint("GET", "/sobjects/{sobject}/{record_id}", sobjects.get),
                Endpoint("PATCH", "/sobjects/{sobject}/{record_id}", sobjects.update),
                Endpoint("DELETE", "/sobjects/{sobject}/{record_id}", sobjects.delete),
                Endpoint(
                    "GET", "/sobjects/{sobject}/{field}/{value:path}", sobjects.get_by_external_id
                ),
                Endpoint("PATCH", "/sobjects/{sobject}/{field}/{value:path}", sobjects.upsert),
            ]
        )


__all__ = ["ApiLimits", "Call", "Context", "Reply", "RestApi", "versions"]
