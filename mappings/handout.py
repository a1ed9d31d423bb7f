"""The dictionary as the one-page handout both teams sign off: rows of plain text per section.

Pure: returns sections of rows (`rows`) and a Markdown rendering of them; the CLI draws the
same rows as Rich tables, so both formats always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from mappings.dictionary import Dictionary, HubSpotValues, SalesforceValues
from mappings.schema import custom_fields
from mappings.transforms import get


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _hubspot(values: HubSpotValues) -> str:
    parts = [f"lifecyclestage: {', '.join(values.lifecyclestage)}" if values.lifecyclestage else ""]
    if values.hs_lead_status:
        parts.append(f"hs_lead_status: {', '.join(values.hs_lead_status)}")
    return "; ".join(p for p in parts if p) or "-"


def _salesforce(values: SalesforceValues) -> str:
    parts = []
    if values.lead_status:
        parts.append(f"Lead.Status: {', '.join(values.lead_status)}")
    if values.lead_converted is not None:
        parts.append(f"Lead.IsConverted: {str(values.lead_converted).lower()}")
    if values.opportunity_stage:
        parts.append(f"Opportunity.StageName: {', '.join(values.opportunity_stage)}")
    return "; ".join(parts) or "-"


def sections(d: Dictionary) -> tuple[Section, ...]:
    stages = Section(
        "Funnel stages (in order)",
        ("Stage", "Owner", "Definition", "Entry rule", "HubSpot", "Salesforce"),
        tuple(
            (
                f"{spec.label} ({stage})",
                spec.owner.value,
                spec.definition,
                spec.entry.description or "-",
                _hubspot(spec.hubspot),
                _salesforce(spec.salesforce),
            )
            for stage, spec in d.stages.items()
        ),
    )
    outcomes = Section(
        "Outcomes",
        ("Outcome", "Owner", "Definition", "HubSpot", "Salesforce"),
        tuple(
            (
                f"{spec.label} ({outcome})",
                spec.owner.value,
                spec.definition,
                _hubspot(spec.hubspot),
                _salesforce(spec.salesforce),
            )
            for outcome, spec in d.outcomes.items()
        ),
    )
    reasons = Section(
        "Rejection reasons (closed list)",
        ("Reason", "Outcome", "Definition", "HubSpot", "Salesforce"),
        tuple(
            (
                f"{r.label} ({r.code})",
                r.outcome.value,
                r.definition or "-",
                f"hs_lead_status: {r.hubspot.hs_lead_status}; "
                f"rejection_reason: {r.hubspot.rejection_reason}",
                f"Status: {r.salesforce.lead_status}; "
                f"Rejection_Reason__c: {r.salesforce.rejection_reason}",
            )
            for r in d.rejection_reasons
        ),
    )
    fields = Section(
        "Shared fields",
        ("Field", "HubSpot", "Salesforce Lead", "Salesforce Contact", "Transforms", "Rule"),
        tuple(
            (
                name,
                fmap.hubspot or "-",
                fmap.salesforce.get("Lead", "-"),
                fmap.salesforce.get("Contact", "-"),
                ", ".join(fmap.transforms) or "-",
                fmap.rule.value,
            )
            for name, fmap in d.fields.items()
        ),
    )
    fallbacks = Section(
        "Salesforce required fields: written instead of a blank",
        ("Object", "Field", "Value"),
        tuple(
            (obj, name, value)
            for obj, values in d.salesforce_required.items()
            for name, value in values.items()
        ),
    )
    transforms = Section(
        "Transforms",
        ("Name", "What it does"),
        tuple(
            sorted(
                {(name, get(name).doc) for f in d.fields.values() for name in f.transforms},
            )
        ),
    )
    custom = Section(
        "Custom fields to create before the first sync",
        ("System", "Object", "Field", "Type", "Values"),
        tuple(
            (system, obj, f.name, f.type, ", ".join(o.value for o in f.options) or "-")
            for (system, obj), schemas in custom_fields(d).items()
            for f in schemas
        ),
    )
    return (stages, outcomes, reasons, fields, fallbacks, transforms, custom)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(d: Dictionary, *, title: str = "Funnel dictionary") -> str:
    """The handout as Markdown: one heading and one table per section."""
    lines = [f"# {title}", ""]
    for section in sections(d):
        lines += [f"## {section.title}", ""]
        lines.append("| " + " | ".join(section.columns) + " |")
        lines.append("|" + "|".join("---" for _ in section.columns) + "|")
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
        lines.append("")
    return "\n".join(lines)
