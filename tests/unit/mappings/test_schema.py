"""The custom fields the shipped dictionary needs in each system."""

from __future__ import annotations

from mappings.loader import load_default
from mappings.schema import custom_fields

D = load_default()


def shapes(system: str, obj: str) -> dict[str, tuple[str, str, int | None, list[str]]]:
    return {
        f.name: (f.type, f.label, f.length, [o.value for o in f.options])
        for f in custom_fields(D)[(system, obj)]
    }


REASONS = ["No Budget", "No Authority", "No Need", "Bad Timing", "Competitor", "Bad Data",
           "Unresponsive", "Not a Fit"]  # fmt: skip
LABELS = ["Subscriber", "Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Customer", "Recycled",
          "Disqualified", "Lost"]  # fmt: skip


def test_hubspot_needs_batons_own_properties_only() -> None:
    assert shapes("hubspot", "contacts") == {
        "baton_id": ("string", "Baton Id", None, []),
        "lead_source": ("string", "Lead Source", None, []),
        "original_campaign": ("string", "Original Campaign", None, []),
        "funnel_stage": ("enumeration", "Funnel Stage", None, LABELS),
        "rejection_reason": ("enumeration", "Rejection Reason", None, REASONS),
    }


def test_salesforce_needs_the_custom_fields_on_leads_and_contacts() -> None:
    expected = {
        "Baton_Id__c": ("string", "Baton Id", 36, []),
        "Original_Campaign__c": ("string", "Original Campaign", 255, []),
        "Marketing_Score__c": ("double", "Marketing Score", None, []),
        "Funnel_Stage__c": ("picklist", "Funnel Stage", None, LABELS),
        "MQL_Date__c": ("datetime", "MQL Date", None, []),
        "Rejection_Reason__c": ("picklist", "Rejection Reason", None, REASONS),
    }
    assert shapes("salesforce", "Lead") == expected
    assert shapes("salesforce", "Contact") == expected
