"""The in-process actor API the simulators use, seeding, and outbound notifications."""

from __future__ import annotations

import pytest

from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.outbound import OutboundSettings
from sandbox.salesforce.store import id_suffix, make_id, normalize_id
from sandbox.simulate import SalesforceActor, Simulator


@pytest.fixture
def box() -> SalesforceSandbox:
    sandbox = SalesforceSandbox(SalesforceOptions(rate_limits=False))
    sandbox.seed(contacts=200, leads=120, seed=3)
    return sandbox


def test_ids_carry_the_real_case_suffix() -> None:
    assert id_suffix("001A0000006Vm9r") == "IAC"  # a documented 15→18 pair
    new = make_id("00Q", 12345)
    assert len(new) == 18
    assert normalize_id(new[:15]) == new
    assert normalize_id(new[:15] + "ZZZ") is None


def test_seed_makes_leads_contacts_and_metadata(box: SalesforceSandbox) -> None:
    leads = box.find("Lead", limit=1000)
    assert len(leads) == 120
    assert {lead["Status"] for lead in leads} >= {"Open - Not Contacted", "Working - Contacted"}
    assert box.find("Contact", limit=1000)
    converted = box.find("LeadStatus", equals={"IsConverted": True})
    assert [row["ApiName"] for row in converted] == ["Closed - Converted"]
    assert box.stats.writes == 0


def test_actor_edits_move_timestamps_but_are_not_api_writes(box: SalesforceSandbox) -> None:
    lead = box.find("Lead", equals={"Status": "Open - Not Contacted"}, limit=1)[0]
    if lead["Phone"] == "n/a":  # seeded junk that the validation rule refuses on any edit
        box.update("Lead", lead["Id"], {"Phone": None})
    box.clock.advance(60)
    box.update("Lead", lead["Id"], {"Status": "Working - Contacted"})
    after = box.find("Lead", equals={"Id": lead["Id"]})[0]
    assert after["SystemModstamp"] > lead["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    result = box.convert_lead(lead["Id"], create_opportunity=True)
    assert result["success"] is True
    assert result["opportunityId"].startswith("006")
    with pytest.raises(SalesforceError) as info:
        box.update("Lead", lead["Id"], {"Title": "x"})
    assert info.value.code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert box.stats.writes == 0


def test_metadata_objects_are_read_only(box: SalesforceSandbox) -> None:
    with pytest.raises(SalesforceError) as info:
        box.create("LeadStatus", {"ApiName": "New"})
    assert info.value.code == "INVALID_TYPE_FOR_OPERATION"


def test_lead_and_contact_changes_queue_outbound_messages(box: SalesforceSandbox) -> None:
    box.outbound.configure(
        OutboundSettings(
            targetUrl="https://127.0.0.1:9/outbound", sobjects={"Lead": ["Status", "Email"]}
        )
    )
    lead_id = box.create("Lead", {"LastName": "Notify", "Company": "Outbound"})
    box.update("Lead", lead_id, {"Status": "Working - Contacted"})
    box.create("Account", {"Name": "Not configured"})
    assert box.outbound.snapshot()["delivery"]["pending"] >= 1


def test_simulator_runs_against_the_actor_api(box: SalesforceSandbox) -> None:
    actor: SalesforceActor = box

    class NoHubSpot:
        def find(self, *args: object, **kwargs: object) -> list[dict[str, str | None]]:
            return []

        def create(self, *args: object) -> str:
            return "1"

        def update(self, *args: object) -> None:
            return None

    simulator = Simulator(hubspot=NoHubSpot(), salesforce=actor, today=lambda: "2026-01-15", seed=5)
    for _ in range(200):
        simulator.step()
    sales_moves = {"accept_lead", "work_lead", "reject_lead", "convert_lead", "advance_opportunity"}
    assert sales_moves & set(simulator.moves)
    assert box.stats.writes == 0


def test_reset_empties_the_org_but_keeps_metadata(box: SalesforceSandbox) -> None:
    box.reset()
    assert box.find("Lead") == []
    assert len(box.find("OpportunityStage", limit=100)) == 10
