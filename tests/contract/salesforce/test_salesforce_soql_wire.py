"""Hostile values through the whole path: SOQL builder -> simple-salesforce -> URL -> imitation.

A record is written with a hostile LastName, then found by an equality filter built with the
formatter: exactly that record comes back, so the value stayed one literal over the wire.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.records import RecordKey, RecordPatch, System
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.soql import soql
from tests.contract.salesforce.conftest import Served

PIECES = st.sampled_from(
    ["'", '"', "\\", "%", "_", "\n", "\t", " OR Id != null", "' OR '1'='1", "+", "&q=", "#", "é😀"]
)
NAMES = st.lists(st.one_of(PIECES, st.text(min_size=1, max_size=3)), min_size=1, max_size=6).map(
    lambda parts: "".join(parts)[:70]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES)
def test_hostile_names_find_exactly_their_record(
    served: Served, salesforce: SalesforceConnector, name: str
) -> None:
    name = f"{uuid.uuid4().hex[:8]}{name}"[:80]  # unique, so exactly one record may match
    (outcome,) = salesforce.write(
        "Contact",
        [RecordPatch(RecordKey(System.SALESFORCE, "Contact", ""), {"LastName": name})],
    )
    assert outcome.ok, outcome

    page = salesforce.sdk.query(
        soql("SELECT Id, LastName FROM Contact WHERE LastName = {}", name),
        include_deleted=False,
        operation="test",
    )

    assert [(r["Id"], r["LastName"]) for r in page["records"]] == [(outcome.id, name)]
