"""The funnel dictionary as typed data, and the cross-checks a schema alone cannot express.

The YAML file (`funnel.yaml`) is parsed by `mappings.loader` into `Dictionary`; these models
reject unknown keys and misspelt values, and `cross_check` finds the mistakes that span entries
(a value claimed by two stages, a transform nobody defined). Each problem carries the path of
the offending key so the loader can name its line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mappings.model import (
    ENTERED_PREFIX,
    FUNNEL_STAGE,
    Outcome,
    RejectionReason,
    SalesforceObject,
    Stage,
    Team,
    canonical_field_names,
)
from mappings.transforms import PICKLIST_PREFIX, transform_names

Path = tuple[str | int, ...]


class Rule(StrEnum):
    """Which side wins a field, in the words users of HubSpot's own integration know."""

    TWO_WAY = "two_way"
    PREFER_HUBSPOT_UNLESS_BLANK = "prefer_hubspot_unless_blank"
    ALWAYS_HUBSPOT = "always_hubspot"
    PREFER_SALESFORCE_UNLESS_BLANK = "prefer_salesforce_unless_blank"
    ALWAYS_SALESFORCE = "always_salesforce"
    HUBSPOT_TO_SALESFORCE = "hubspot_to_salesforce"
    SALESFORCE_TO_HUBSPOT = "salesforce_to_hubspot"
    NONE = "none"

    @property
    def writes_salesforce(self) -> bool:
        return self not in {Rule.ALWAYS_SALESFORCE, Rule.SALESFORCE_TO_HUBSPOT, Rule.NONE}

    @property
    def writes_hubspot(self) -> bool:
        return self not in {Rule.ALWAYS_HUBSPOT, Rule.HUBSPOT_TO_SALESFORCE, Rule.NONE}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntryRule(_Strict):
    """How a person enters a stage; for `mql` the shared qualification definition.

    Only the mql rule is applied (`mappings.stages.qualifies_for_mql`); on any other stage
    just `description` is allowed, and `cross_check` refuses the thresholds there. The score
    is strict: YAML's `true` or a quoted `"60"` is refused rather than read as a number.
    """

    description: str = ""
    score_at_least: int | None = Field(default=None, ge=0, strict=True)
    required_fields: tuple[str, ...] = ()
    excluded_email_domains: tuple[str, ...] = ()


class HubSpotValues(_Strict):
    lifecyclestage: tuple[str, ...] = ()
    hs_lead_status: tuple[str, ...] = ()


class SalesforceValues(_Strict):
    lead_status: tuple[str, ...] = ()
    lead_converted: bool | None = None
    opportunity_stage: tuple[str, ...] = ()


class StageSpec(_Strict):
    label: str = Field(min_length=1)
    owner: Team
    definition: str = Field(min_length=1)
    entry: EntryRule = EntryRule()
    hubspot: HubSpotValues = HubSpotValues()
    salesforce: SalesforceValues = SalesforceValues()


class OutcomeSpec(_Strict):
    label: str = Field(min_length=1)
    owner: Team
    definition: str = Field(min_length=1)
    hubspot: HubSpotValues = HubSpotValues()
    salesforce: SalesforceValues = SalesforceValues()


class OpportunityStage(_Strict):
    name: str = Field(min_length=1)
    closed: bool
    won: bool


class ReasonSalesforce(_Strict):
    lead_status: str = Field(min_length=1)
    rejection_reason: str = Field(min_length=1)


class ReasonHubSpot(_Strict):
    hs_lead_status: str = Field(min_length=1)
    rejection_reason: str = Field(min_length=1)


class ReasonSpec(RejectionReason):
    salesforce: ReasonSalesforce
    hubspot: ReasonHubSpot


class PicklistRow(_Strict):
    canonical: str = Field(min_length=1)
    hubspot: str | None = None
    salesforce: str | None = None


class FieldMap(_Strict):
    hubspot: str | None = None
    salesforce: dict[SalesforceObject, str] = Field(default_factory=dict)
    transforms: tuple[str, ...] = ()
    rule: Rule
    max_length: int | None = Field(default=None, gt=0)


class Dictionary(_Strict):
    version: Literal[1]
    stages: dict[Stage, StageSpec]
    outcomes: dict[Outcome, OutcomeSpec]
    opportunity_stages: tuple[OpportunityStage, ...] = ()
    rejection_reasons: tuple[ReasonSpec, ...]
    salesforce_required: dict[SalesforceObject, dict[str, str]] = Field(default_factory=dict)
    picklists: dict[str, tuple[PicklistRow, ...]] = Field(default_factory=dict)
    owners: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, FieldMap]

    def reason(self, code: str) -> ReasonSpec | None:
        return next((r for r in self.rejection_reasons if r.code == code), None)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a dictionary, at the path of the key that is wrong."""

    path: Path
    message: str


# (system, field) pairs a stage or outcome may claim values of; each value means one thing.
StageKey = Stage | Outcome
VALUE_FIELDS: tuple[tuple[str, str], ...] = (
    ("hubspot", "lifecyclestage"),
    ("hubspot", "hs_lead_status"),
    ("salesforce", "lead_status"),
    ("salesforce", "opportunity_stage"),
)


def _entries(d: Dictionary) -> Iterator[tuple[str, StageKey, StageSpec | OutcomeSpec]]:
    for stage, spec in d.stages.items():
        yield "stages", stage, spec
    for outcome, ospec in d.outcomes.items():
        yield "outcomes", outcome, ospec


def system_values(spec: StageSpec | OutcomeSpec, system: str, field: str) -> tuple[str, ...]:
    values: tuple[str, ...] = getattr(getattr(spec, system), field)
    return values


def cross_check(d: Dictionary) -> list[Problem]:
    """Every mistake that spans entries, in file order; empty when the dictionary is sound."""
    problems: list[Problem] = []
    problems += _check_complete(d)
    problems += _check_unique_values(d)
    problems += _check_opportunity_stages(d)
    problems += _check_reasons(d)
    problems += _check_fields(d)
    return problems


def _check_complete(d: Dictionary) -> Iterator[Problem]:
    for section, members, present in (
        ("stages", tuple(Stage), d.stages),
        ("outcomes", tuple(Outcome), d.outcomes),
    ):
        missing = [str(m) for m in members if m not in present]
        if missing:
            every = ", ".join(str(m) for m in members)
            yield Problem(
                (section,), f"missing {', '.join(missing)} (every one of {every} needs an entry)"
            )
    yield from _check_entry_rules(d)
    labels: dict[str, str] = {}
    for section, key, spec in _entries(d):
        where = f"{section}.{key}"
        if spec.label in labels:
            yield Problem(
                (section, key, "label"),
                f"'{spec.label}' is already the label of {labels[spec.label]}; labels must differ",
            )
        labels.setdefault(spec.label, where)


# The entry-rule keys only the mql rule is checked with (EntryRule's other key is free text).
ENTRY_THRESHOLDS: tuple[str, ...] = ("score_at_least", "required_fields", "excluded_email_domains")


def mql_readable_fields(d: Dictionary) -> list[str]:
    """The names `required_fields` may list: Person's own fields that a field map fills
    (`qualifies_for_mql` reads them off the Person); `funnel_stage` and `entered.<stage>` are
    not Person fields, and an unmapped field is always blank."""
    plain = canonical_field_names() - {FUNNEL_STAGE}
    return sorted(
        name for name in d.fields if name in plain and not name.startswith(ENTERED_PREFIX)
    )


def _check_entry_rules(d: Dictionary) -> Iterator[Problem]:
    for stage, spec in d.stages.items():
        entry = spec.entry
        if stage is not Stage.MQL:
            for key in ENTRY_THRESHOLDS:
                if getattr(entry, key) not in (None, ()):
                    yield Problem(
                        ("stages", stage, "entry", key),
                        f"only the mql entry rule is applied, so {key} here would be ignored "
                        "(take it out, or move it to stages.mql.entry; description is free "
                        "text)",
                    )
            continue
        readable = mql_readable_fields(d)
        for i, name in enumerate(entry.required_fields):
            if name not in readable:
                yield Problem(
                    ("stages", stage, "entry", "required_fields", i),
                    f"'{name}' is not a mapped person field the MQL check can read "
                    f"(allowed: {', '.join(readable) or 'none mapped under fields'})",
                )


def _check_unique_values(d: Dictionary) -> Iterator[Problem]:
    for system, field in VALUE_FIELDS:
        claimed: dict[str, str] = {}
        for section, key, spec in _entries(d):
            for i, value in enumerate(system_values(spec, system, field)):
                if value in claimed:
                    yield Problem(
                        (section, key, system, field, i),
                        f"'{value}' already means {claimed[value]}; "
                        "a system value can mean only one stage or outcome",
                    )
                else:
                    claimed[value] = f"{key} ({section}.{key})"
    converted = [(sec, key) for sec, key, spec in _entries(d) if spec.salesforce.lead_converted]
    for section, key in converted[1:]:
        yield Problem(
            (section, key, "salesforce", "lead_converted"),
            f"lead_converted is already claimed by {converted[0][0]}.{converted[0][1]}",
        )


def _check_opportunity_stages(d: Dictionary) -> Iterator[Problem]:
    declared: dict[str, OpportunityStage] = {}
    for i, stage in enumerate(d.opportunity_stages):
        if stage.name in declared:
            yield Problem(
                ("opportunity_stages", i, "name"),
                f"'{stage.name}' appears twice; keep one entry per Salesforce stage",
            )
        declared.setdefault(stage.name, stage)
    allowed = ", ".join(declared) or "(none declared under opportunity_stages)"
    for section, key, spec in _entries(d):
        for i, name in enumerate(spec.salesforce.opportunity_stage):
            path: Path = (section, key, "salesforce", "opportunity_stage", i)
            found = declared.get(name)
            if found is None:
                yield Problem(path, f"'{name}' is not one of {allowed}")
            elif found.won and key != Stage.CUSTOMER:
                yield Problem(path, f"'{name}' is closed won, so it can only mean customer")
            elif found.closed and not found.won and key != Outcome.LOST:
                yield Problem(path, f"'{name}' is closed lost, so it can only mean lost")
            elif not found.closed and key in (Stage.CUSTOMER, Outcome.LOST):
                yield Problem(path, f"'{name}' is an open stage, so it cannot mean {key}")


def _check_reasons(d: Dictionary) -> Iterator[Problem]:
    if not d.rejection_reasons:
        yield Problem(("rejection_reasons",), "the list is empty; give at least one reason")
    codes: set[str] = set()
    labels: set[str] = set()
    for i, reason in enumerate(d.rejection_reasons):
        if reason.code in codes:
            yield Problem(("rejection_reasons", i, "code"), f"'{reason.code}' appears twice")
        if reason.label in labels:
            yield Problem(("rejection_reasons", i, "label"), f"'{reason.label}' appears twice")
        codes.add(reason.code)
        labels.add(reason.label)


def _check_fields(d: Dictionary) -> Iterator[Problem]:
    known = transform_names()
    names = canonical_field_names()
    for name, fmap in d.fields.items():
        if name not in names:
            entered = f"{ENTERED_PREFIX}<stage>"
            yield Problem(
                ("fields", name),
                f"'{name}' is not a canonical field (allowed: "
                f"{', '.join(sorted(n for n in names if not n.startswith(ENTERED_PREFIX)))}, "
                f"{entered})",
            )
        for i, transform in enumerate(fmap.transforms):
            path: Path = ("fields", name, "transforms", i)
            if transform.startswith(PICKLIST_PREFIX):
                table = transform.removeprefix(PICKLIST_PREFIX)
                if table not in d.picklists:
                    have = ", ".join(d.picklists) or "none"
                    yield Problem(path, f"picklist '{table}' is not defined (picklists: {have})")
            elif transform not in known:
                yield Problem(
                    path,
                    f"'{transform}' is not a known transform (known: {', '.join(sorted(known))}, "
                    f"{PICKLIST_PREFIX}<name>)",
                )
        if fmap.hubspot is None and not fmap.salesforce:
            yield Problem(("fields", name), "maps to neither hubspot nor salesforce")
    yield from _check_fields_mapped_once(d)


def _check_fields_mapped_once(d: Dictionary) -> Iterator[Problem]:
    """Two canonical fields on one system field would overwrite each other on every sync."""
    owners: dict[tuple[str, ...], str] = {}
    for name, fmap in d.fields.items():
        targets: list[tuple[Path, tuple[str, ...], str]] = []
        if fmap.hubspot is not None:
            targets.append((("fields", name, "hubspot"), ("hubspot", fmap.hubspot), fmap.hubspot))
        for obj, remote in fmap.salesforce.items():
            targets.append(
                (("fields", name, "salesforce", obj), ("salesforce", obj, remote), remote)
            )
        for path, key, remote in targets:
            first = owners.setdefault(key, name)
            if first != name:
                yield Problem(
                    path,
                    f"'{remote}' is already mapped by fields.{first}; map each system field "
                    "once (remove one of the two)",
                )


def required_fallbacks(d: Dictionary, sobject: str) -> Mapping[str, str]:
    """Salesforce's required fields for `sobject` with the value written instead of a blank."""
    for name, fallbacks in d.salesforce_required.items():
        if name == sobject:
            return fallbacks
    return {}
