"""Compare the dictionary with the systems' picklists: values without meaning, meanings without
values.

Pure: the picklists arrive as data (from a JSON file today, from HubSpot property options and
Salesforce describe once the connectors fetch them). A system value the dictionary does not
map means Baton cannot tell what a person's status says; a dictionary value the system lacks
means Baton would write something the system rejects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from connectors.records import FieldSchema, PicklistOption
from mappings.dictionary import VALUE_FIELDS, Dictionary, OutcomeSpec, StageSpec
from mappings.transforms import PICKLIST_PREFIX

PicklistKey = tuple[str, str, str]  # (system, object, field)
Picklists = Mapping[PicklistKey, Sequence[PicklistOption]]

# Where each dictionary vocabulary lives in the systems.
_NATIVE: Mapping[tuple[str, str], PicklistKey] = {
    ("hubspot", "lifecyclestage"): ("hubspot", "contacts", "lifecyclestage"),
    ("hubspot", "hs_lead_status"): ("hubspot", "contacts", "hs_lead_status"),
    ("salesforce", "lead_status"): ("salesforce", "Lead", "Status"),
    ("salesforce", "opportunity_stage"): ("salesforce", "Opportunity", "StageName"),
}


@dataclass(frozen=True, slots=True)
class FieldReport:
    key: PicklistKey
    unmapped: tuple[str, ...]  # in the system, meaning nothing to the dictionary
    missing: tuple[str, ...]  # in the dictionary, absent from (or inactive in) the system
    checked: bool = True  # False when no picklist was supplied for this field
    near: tuple[tuple[str, str], ...] = ()  # (missing value, why it is nearly there)

    def hint(self, value: str) -> str | None:
        """Why a missing dictionary value is nearly in the system (see `_near`), if it is."""
        return dict(self.near).get(value)

    @property
    def name(self) -> str:
        return ".".join(self.key)

    @property
    def ok(self) -> bool:
        return not self.unmapped and not self.missing


@dataclass(frozen=True, slots=True)
class CheckReport:
    fields: tuple[FieldReport, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.fields)

    @property
    def unchecked(self) -> tuple[FieldReport, ...]:
        return tuple(f for f in self.fields if not f.checked)


def expected_values(d: Dictionary) -> dict[PicklistKey, list[str]]:
    """Every (system, object, field) the dictionary gives values for, with those values."""
    expected: dict[PicklistKey, list[str]] = {}

    def add(key: PicklistKey, values: Iterable[str]) -> None:
        bucket = expected.setdefault(key, [])
        bucket.extend(v for v in values if v not in bucket)

    entries: list[StageSpec | OutcomeSpec] = [*d.stages.values(), *d.outcomes.values()]
    for system, field in VALUE_FIELDS:
        add(
            _NATIVE[(system, field)],
            (v for e in entries for v in getattr(getattr(e, system), field)),
        )
    add(("salesforce", "Opportunity", "StageName"), (s.name for s in d.opportunity_stages))
    add(
        ("hubspot", "contacts", "hs_lead_status"),
        (r.hubspot.hs_lead_status for r in d.rejection_reasons),
    )
    add(("salesforce", "Lead", "Status"), (r.salesforce.lead_status for r in d.rejection_reasons))
    labels = [e.label for e in entries]
    for name, fmap in d.fields.items():
        sf_objects = list(fmap.salesforce.items())
        targets: list[tuple[PicklistKey, str]] = []
        if fmap.hubspot:
            targets.append((("hubspot", "contacts", fmap.hubspot), "hubspot"))
        targets += [(("salesforce", obj, remote), "salesforce") for obj, remote in sf_objects]
        for key, system in targets:
            if name == "funnel_stage":
                add(key, labels)
            elif name == "outcome_reason":
                add(key, (getattr(r, system).rejection_reason for r in d.rejection_reasons))
            for transform in fmap.transforms:
                if transform.startswith(PICKLIST_PREFIX):
                    rows = d.picklists[transform.removeprefix(PICKLIST_PREFIX)]
                    add(key, (v for r in rows if (v := getattr(r, system)) is not None))
    return expected


def check(d: Dictionary, picklists: Picklists) -> CheckReport:
    """Every unmapped system value and every dictionary value the system lacks, per field."""
    reports: list[FieldReport] = []
    for key, wanted in expected_values(d).items():
        options = picklists.get(key)
        if options is None:
            reports.append(FieldReport(key, (), (), checked=False))
            continue
        active = [o.value for o in options if o.active]
        unmapped = tuple(v for v in active if v not in wanted)
        missing = tuple(v for v in wanted if v not in active)
        near = tuple((v, why) for v in missing if (why := _near(v, options)) is not None)
        reports.append(FieldReport(key, unmapped, missing, near=near))
    return CheckReport(tuple(reports))


def _near(value: str, options: Sequence[PicklistOption]) -> str | None:
    """Why the dictionary's `value` is not an active option when one is nearly it: inactive, or
    the option's label rather than its value (HubSpot's custom lifecycle stages have numeric
    values), or spelt with other case or spaces (Baton reads and writes values exactly)."""
    folded = _fold(value)
    for option in options:
        if option.value == value:  # present, so inactive
            return "it is inactive in the system: activate it, or take it out of the dictionary"
    for option in options:
        if option.active and option.label != option.value and _fold(option.label) == folded:
            return (
                f"it is the label of the value '{option.value}': the dictionary lists values, "
                f"so write '{option.value}' there"
            )
    for option in options:
        if option.active and _fold(option.value) == folded:
            return f"the system spells it '{option.value}' (case or spaces differ): use that"
    return None


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def from_schemas(
    system: str, obj: str, schemas: Iterable[FieldSchema]
) -> dict[PicklistKey, list[PicklistOption]]:
    """Picklists keyed for `check`, from the connectors' field schemas of one object."""
    return {(system, obj, s.name): list(s.options) for s in schemas if s.options}


class PicklistFileError(ValueError):
    """The picklist data is not shaped as `{system: {object: {field: [values]}}}`."""


def parse_picklists(data: object) -> dict[PicklistKey, list[PicklistOption]]:
    """Picklists from JSON data: `{system: {object: {field: [value | {value, label, active}]}}}`."""
    if not isinstance(data, dict):
        raise PicklistFileError("the top level must be an object of systems (hubspot, salesforce)")
    out: dict[PicklistKey, list[PicklistOption]] = {}
    for system, objects in data.items():
        if system not in ("hubspot", "salesforce"):
            raise PicklistFileError(f"'{system}' is not a system (hubspot, salesforce)")
        if not isinstance(objects, dict):
            raise PicklistFileError(f"{system}: must be an object of objects")
        for obj, fields in objects.items():
            if not isinstance(fields, dict):
                raise PicklistFileError(f"{system}.{obj}: must be an object of fields")
            for field, values in fields.items():
                out[(system, obj, field)] = list(_options(f"{system}.{obj}.{field}", values))
    return out


def _options(where: str, values: object) -> Iterator[PicklistOption]:
    if not isinstance(values, list):
        raise PicklistFileError(f"{where}: must be a list of values")
    for i, item in enumerate(values):
        if isinstance(item, str):
            yield PicklistOption(value=item, label=item)
        elif isinstance(item, dict) and isinstance(item.get("value"), str):
            yield PicklistOption(
                value=item["value"],
                label=str(item.get("label", item["value"])),
                active=bool(item.get("active", True)),
            )
        else:
            raise PicklistFileError(f'{where}[{i}]: must be a string or {{"value": ...}}')
