"""`describe` and `picklists`, and `mappings check` fed with the live picklists of each system.

A picklist value is added at run time, as an admin does it: on HubSpot through the Properties
API (PATCH with the new option); on Salesforce through the imitation's schema table, because
the imitation has no Metadata/Tooling API (a real org would use Setup or the Metadata API).
`mappings check` names the new value while it exists and stops naming it once it is gone.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.errors import ConfigError
from connectors.records import RecordKey, RecordPatch
from mappings.check import FieldReport, check
from mappings.loader import load_default
from tests.contract.suite.sides import Side

ADDED = "Nurture Later"


def _report(side: Side) -> FieldReport:
    """`baton mappings check` for this system, on a fresh connector (a fresh CLI run)."""
    connector = side.connector()
    picklists = {
        (side.name, obj, name): list(options)
        for obj, field in side.check_fields
        for name, options in connector.picklists(obj, [field]).items()
    }
    assert len(picklists) == len(side.check_fields)  # every checked field is a live picklist
    report = check(load_default(), picklists)
    (found,) = [f for f in report.fields if f.key == (side.name, side.person, side.status)]
    assert found.checked
    return found


def test_given_the_person_object_when_described_then_types_lengths_and_options(
    side: Side, connector: Any
) -> None:
    fields = {f.name: f for f in connector.describe(side.person)}

    assert {side.writable, side.external_id, side.status} <= set(fields)
    status = fields[side.status]
    assert status.options
    assert side.bad_status not in {o.value for o in status.options}
    assert all(o.label for o in status.options)
    assert not fields[side.writable].options
    assert fields[side.writable].updateable


def test_given_field_names_when_reading_picklists_then_only_picklists_come_back(
    side: Side, connector: Any
) -> None:
    lists = connector.picklists(side.person, [side.status, side.writable, "no_such_field"])

    assert set(lists) == {side.status}
    described = {f.name: f.options for f in connector.describe(side.person)}
    assert lists[side.status] == described[side.status]


def test_given_an_unknown_object_then_a_config_error_names_it(side: Side, connector: Any) -> None:
    with pytest.raises(ConfigError, match="NoSuchObject"):
        connector.describe("NoSuchObject")


def test_given_a_picklist_value_added_at_run_time_then_check_finds_it_until_it_is_removed(
    side: Side,
) -> None:
    assert ADDED not in _report(side).unmapped

    with side.picklist_value_added(ADDED):
        connector = side.connector()
        options = connector.picklists(side.person, [side.status])[side.status]
        assert ADDED in [o.value for o in options]
        assert ADDED in _report(side).unmapped  # a value with no meaning in the dictionary
        record = side.create("Picky")
        (outcome,) = connector.write(
            side.person,
            [RecordPatch(RecordKey(side.system, side.person, record), {side.status: ADDED})],
        )
        assert outcome.ok  # the system accepts its new value

    report = _report(side)
    assert ADDED not in report.unmapped
    assert ADDED not in report.missing
