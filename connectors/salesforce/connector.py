"""`SalesforceConnector`: the `connectors.protocol.Connector` for one Salesforce org.

The composition root of this package: settings -> token grants -> the SDK (budget, retries,
session refresh) -> reader, writer, describer, outbound parsing. Building it makes no call;
the first token is granted on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

import httpx

from connectors.http.budget import ApiBudget, salesforce_spec
from connectors.http.clock import VendorClock
from connectors.http.redaction import register_secrets
from connectors.http.retry import RetryPolicy
from connectors.records import (
    ContactRole,
    Conversion,
    FieldSchema,
    ListedPage,
    PicklistOption,
    RecordPatch,
    SourceRecord,
    System,
    WebhookReceipt,
    WebhookRequest,
    WriteOutcome,
)
from connectors.salesforce.auth import TokenClient
from connectors.salesforce.describe import Describer
from connectors.salesforce.objects import spec_for
from connectors.salesforce.outbound import verify_outbound
from connectors.salesforce.reader import Reader
from connectors.salesforce.sdk import SalesforceSdk
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.writer import Writer


class SalesforceConnector:
    """Reads, writes, describes and verifies Outbound Messages for one org.

    Args:
        settings: connection settings (auth mode, URLs, CA file, thresholds).
        budget: the org's API budget; shared by every connector talking to the same org.
        policy: retry limits.
        sleep: injectable for tests (retry and lock waits).
        token_transport: injectable httpx transport for the token endpoint (tests).
        extra_fields: per sObject, fields to read besides the object table's.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        budget: ApiBudget | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        token_transport: httpx.BaseTransport | None = None,
        extra_fields: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.settings = settings
        register_secrets(*settings.secrets())
        self.budget = budget or ApiBudget(salesforce_spec(daily_floor=settings.daily_floor))
        self.clock = VendorClock()
        self.tokens = TokenClient(settings, transport=token_transport, vendor_clock=self.clock)
        self.sdk = SalesforceSdk(
            tokens=self.tokens.grant,
            api_version=settings.api_version,
            ca_file=str(settings.ca_file) if settings.ca_file else None,
            timeout=(settings.connect_timeout_s, settings.request_timeout_s),
            budget=self.budget,
            policy=policy,
            sleep=sleep,
            bulk_poll_s=settings.bulk_poll_s,
            proxy_url=settings.proxy_url,
            clock=self.clock,
        )
        self.describer = Describer(self.sdk)
        self.reader = Reader(
            self.sdk,
            bulk_threshold=settings.bulk_threshold,
            field_types=self.describer.types,
            extra_fields=extra_fields,
        )
        self.writer = Writer(self.sdk, bulk_threshold=settings.bulk_threshold, sleep=sleep)

    @property
    def system(self) -> System:
        return System.SALESFORCE

    def vendor_now(self) -> datetime | None:
        return self.clock.now()

    def read_changes(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        return self.reader.changes(spec_for(object), since, until)

    def read_deletions(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        return self.reader.changes(spec_for(object), since, until, deleted_only=True)

    def read_all(self, object: str) -> Iterator[SourceRecord]:
        return self.reader.all(spec_for(object))

    def list_all(self, object: str, start: str | None = None) -> Iterator[ListedPage]:
        return self.reader.pages(spec_for(object), start=start)

    def count_all(self, object: str) -> int | None:
        return self.reader.count(spec_for(object))

    def read_by_ids(self, object: str, ids: Sequence[str]) -> list[SourceRecord]:
        return self.reader.by_ids(spec_for(object), ids)

    def find_by(self, object: str, field: str, values: Sequence[str]) -> list[SourceRecord]:
        return self.reader.by_field(spec_for(object), field, values)

    def read_contact_roles(self, opportunity_ids: Sequence[str]) -> list[ContactRole]:
        return self.reader.contact_roles(opportunity_ids)

    def read_conversions(self, opportunity_ids: Sequence[str]) -> list[Conversion]:
        return self.reader.conversions(opportunity_ids)

    def write(self, object: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        return self.writer.write(spec_for(object), patches)

    def delete(self, object: str, ids: Sequence[str]) -> list[WriteOutcome]:
        return self.writer.delete(spec_for(object), ids)

    def describe(self, object: str) -> list[FieldSchema]:
        return list(self.describer.fields(spec_for(object).name))

    def picklists(
        self, object: str, fields: Sequence[str]
    ) -> Mapping[str, tuple[PicklistOption, ...]]:
        return self.describer.picklists(spec_for(object).name, fields)

    def verify_webhook(self, request: WebhookRequest) -> WebhookReceipt:
        token = self.settings.webhook_token
        return verify_outbound(
            request,
            org_id=self.settings.org_id,
            token=token.get_secret_value() if token is not None else None,
        )

    def close(self) -> None:
        """Release pooled connections."""
        self.sdk.session.close()
