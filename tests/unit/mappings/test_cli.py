"""`baton mappings show|check` as a user runs them (through Typer's test runner)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner, Result

from baton.cli import app
from baton.cli import mappings as cli_mappings
from connectors.records import FieldSchema, PicklistOption
from mappings.check import expected_values
from mappings.dictionary import required_fallbacks
from mappings.loader import default_path, load_default


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_picklists(path: Path, *, extra: str | None = None) -> Path:
    data: dict[str, dict[str, dict[str, list[str]]]] = {}
    for (system, obj, field), values in expected_values(load_default()).items():
        data.setdefault(system, {}).setdefault(obj, {})[field] = list(values)
    if extra:
        data["hubspot"]["contacts"]["hs_lead_status"].append(extra)
    path.write_text(json.dumps(data))
    return path


def test_show_markdown_is_the_handout(runner: CliRunner) -> None:
    result = runner.invoke(app, ["mappings", "show", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("# Funnel dictionary\n")
    headings = ("## Funnel stages (in order)", "## Outcomes", "## Rejection reasons",
                "## Shared fields", "## Salesforce required fields", "## Transforms")  # fmt: skip
    for heading in headings:
        assert heading in out
    assert "| MQL (mql) | marketing |" in out
    assert (
        "| score | hubspotscore | Marketing_Score__c | Marketing_Score__c | integer | "
        "hubspot_to_salesforce |" in out
    )
    assert "| Lead | Company | [not provided] |" in out
    assert "Proposal/Price Quote" in out


def test_show_table_draws_every_section(runner: CliRunner) -> None:
    result = runner.invoke(app, ["mappings", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for title in ("Funnel stages (in order)", "Outcomes", "Rejection reasons (closed list)",
                  "Shared fields", "Transforms"):  # fmt: skip
        assert title in result.stdout
    assert "hubspot_to_salesforce" in result.stdout


def test_show_reads_a_users_file(runner: CliRunner, tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(default_path().read_text().replace("label: MQL", "label: Hot Lead"))
    result = runner.invoke(app, ["mappings", "show", "--format", "markdown", "--file", str(ours)])
    assert result.exit_code == 0, result.output
    assert "| Hot Lead (mql) |" in result.stdout


def test_show_and_check_read_the_dictionary_the_daemon_uses(
    runner: CliRunner, tmp_path: Path
) -> None:
    """BATON_DICTIONARY_PATH is what `baton run` loads: the mappings commands read it too."""
    ours = tmp_path / "ours.yaml"
    ours.write_text(default_path().read_text().replace("label: MQL", "label: Hot Lead"))
    env = {"BATON_DICTIONARY_PATH": str(ours)}
    result = runner.invoke(app, ["mappings", "show", "--format", "markdown"], env=env)
    assert result.exit_code == 0, result.output
    assert "| Hot Lead (mql) |" in result.stdout


def test_a_dictionary_or_picklists_file_not_in_utf8_is_one_line_and_exit_2(
    runner: CliRunner, tmp_path: Path
) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"stages:\n  - key: mql\n    label: \xff\n")
    result = runner.invoke(app, ["mappings", "show", "--file", str(latin)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"{latin}: not UTF-8 text (byte 32); save the dictionary as UTF-8"
    )
    utf16 = tmp_path / "picklists.json"
    utf16.write_bytes(b"\xff\xfe{\x00}\x00")
    result = runner.invoke(app, ["mappings", "check", "--picklists", str(utf16)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"--picklists: {utf16}: not UTF-8 text (byte 0); save it as UTF-8"
    ]


def test_a_broken_dictionary_names_the_line_and_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(default_path().read_text().replace("rule: always_hubspot", "rule: hubspot"))
    result = runner.invoke(app, ["mappings", "show", "--file", str(ours)])
    assert result.exit_code == 2
    line = next(
        i + 1 for i, text in enumerate(ours.read_text().splitlines()) if "rule: hubspot" in text
    )
    assert result.stderr.splitlines()[0] == (
        f"{ours}:{line}: fields.lead_source.rule: 'hubspot' is not one of two_way, "
        "prefer_hubspot_unless_blank, always_hubspot, prefer_salesforce_unless_blank, "
        "always_salesforce, hubspot_to_salesforce, salesforce_to_hubspot, none"
    )


def test_check_passes_when_the_systems_agree(runner: CliRunner, tmp_path: Path) -> None:
    picklists = write_picklists(tmp_path / "picklists.json")
    result = runner.invoke(app, ["mappings", "check", "--picklists", str(picklists)])
    assert result.exit_code == 0, result.output
    assert "All 10 checked field(s) agree with the dictionary." in result.stdout


def test_check_names_an_unmapped_value_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    picklists = write_picklists(tmp_path / "picklists.json", extra="NURTURE")
    result = runner.invoke(
        app, ["mappings", "check", "--picklists", str(picklists)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert (
        "unmapped hubspot.contacts.hs_lead_status: 'NURTURE' is in the system but means nothing "
        "in the dictionary"
    ) in result.stdout
    assert "1 problem(s) in 10 checked field(s)." in result.stdout


def test_check_says_how_to_fix_each_missing_value(runner: CliRunner, tmp_path: Path) -> None:
    path = write_picklists(tmp_path / "picklists.json")
    data = json.loads(path.read_text())
    data["hubspot"]["contacts"]["funnel_stage"].remove("SAL")  # Baton's own property
    data["salesforce"]["Lead"]["Status"].remove("Working - Contacted")
    path.write_text(json.dumps(data))
    result = runner.invoke(
        app, ["mappings", "check", "--picklists", str(path)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert (
        "missing hubspot.contacts.funnel_stage: 'SAL' is in the dictionary but not an active "
        "value in the system; Baton adds it to its own property when it starts (baton run, "
        "backfill)"
    ) in lines
    assert (
        "missing salesforce.Lead.Status: 'Working - Contacted' is in the dictionary but not an "
        "active value in the system; add it to the system's picklist, or change the dictionary"
    ) in lines


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--picklists: cannot read {path} (No such file or directory); pass a JSON file"),
        ("{nope", "--picklists: {path}:1: not valid JSON (Expecting property name enclosed in "
         "double quotes)"),
        ('{"hubspot": []}', "--picklists: {path}: hubspot: must be an object of objects"),
    ],
)  # fmt: skip
def test_bad_picklist_input_is_one_line_and_exit_2(
    runner: CliRunner, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "picklists.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(
        app, ["mappings", "check", "--picklists", str(path)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == message.format(path=path)


@pytest.mark.parametrize("content", ["{}", '{"hubspot": {"contacts": {"other": ["x"]}}}'])
def test_a_picklists_file_that_checks_nothing_fails_and_says_what_it_lacks(
    runner: CliRunner, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "picklists.json"
    path.write_text(content)
    result = runner.invoke(app, ["mappings", "check", "--picklists", str(path)])
    assert result.exit_code == 2, result.output
    assert "agree" not in result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"--picklists: {path}: holds no picklist the dictionary uses, so nothing would be "
        "checked; give hubspot.contacts: lifecyclestage, hs_lead_status"
    )
    assert "salesforce.Lead: Status" in line
    assert "salesforce.Opportunity: StageName" in line


def test_a_picklists_file_for_one_system_still_checks_it(runner: CliRunner, tmp_path: Path) -> None:
    data = json.loads(write_picklists(tmp_path / "all.json").read_text())
    path = tmp_path / "hubspot.json"
    path.write_text(json.dumps({"hubspot": data["hubspot"]}))
    result = runner.invoke(app, ["mappings", "check", "--picklists", str(path)])
    assert result.exit_code == 0, result.output
    assert "not checked salesforce.Lead.Status: no picklist supplied" in result.stdout


def test_check_requires_the_picklists_option(runner: CliRunner) -> None:
    result = runner.invoke(app, ["mappings", "check"])
    assert result.exit_code == 2
    assert "--picklists" in result.output


def test_check_lines_are_not_wrapped_off_a_terminal(runner: CliRunner, tmp_path: Path) -> None:
    # No COLUMNS: Rich's 80-column default for a pipe broke each finding over lines.
    picklists = write_picklists(tmp_path / "picklists.json", extra="NURTURE")
    result = runner.invoke(app, ["mappings", "check", "--picklists", str(picklists)])
    assert result.exit_code == 1
    assert (
        "unmapped hubspot.contacts.hs_lead_status: 'NURTURE' is in the system but means nothing "
        "in the dictionary; list it under the stage, outcome or reason it means, or deactivate "
        "it in the system"
    ) in result.stdout.splitlines()


class FakeSystem:
    """A system answering `describe` with every field the dictionary names: picklists with
    the dictionary's values, except what a test takes out or retypes."""

    def __init__(
        self,
        system: str,
        *,
        plain: frozenset[str] = frozenset(),
        absent: frozenset[str] = frozenset(),
    ) -> None:
        self.system = system
        self.plain = plain
        self.absent = absent

    def describe(self, obj: str) -> list[FieldSchema]:
        d = load_default()
        wanted = expected_values(d)
        names = {n for (s, o, n) in wanted if (s, o) == (self.system, obj)}
        for fmap in d.fields.values():
            if self.system == "hubspot" and fmap.hubspot and obj == "contacts":
                names.add(fmap.hubspot)
            if self.system == "salesforce" and obj in fmap.salesforce:
                names.add(fmap.salesforce[obj])
        if self.system == "salesforce":
            names |= set(required_fallbacks(d, obj))
        out = []
        for name in sorted(names - self.absent):
            values = wanted.get((self.system, obj, name), [])
            if name in self.plain or not values:
                out.append(FieldSchema(name, "string"))
            else:
                options = tuple(PicklistOption(value=v, label=v) for v in values)
                out.append(FieldSchema(name, "enumeration", options=options))
        return out


def live(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    hubspot: FakeSystem,
    salesforce: FakeSystem,
) -> Result:
    monkeypatch.setattr(
        cli_mappings, "load_settings", lambda _: SimpleNamespace(hubspot=None, salesforce=None)
    )
    monkeypatch.setattr(cli_mappings, "HubSpotConnector", lambda _: hubspot)
    monkeypatch.setattr(cli_mappings, "SalesforceConnector", lambda _: salesforce)
    return runner.invoke(app, ["mappings", "check"])


def test_live_check_agrees_with_systems_shaped_as_the_dictionary(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = live(runner, monkeypatch, FakeSystem("hubspot"), FakeSystem("salesforce"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "All 10 checked field(s) agree with the dictionary."


def test_live_check_reports_a_text_field_where_a_dropdown_is_needed(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot's funnel_stage created by hand as a single-line text: every label Baton writes is
    # accepted, nothing ever checks them, and the check said "not checked" and passed.
    hubspot = FakeSystem("hubspot", plain=frozenset({"funnel_stage"}))
    result = live(runner, monkeypatch, hubspot, FakeSystem("salesforce"))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert (
        "wrong type hubspot.contacts.funnel_stage: a string property; the dictionary needs a "
        "dropdown with Subscriber, Inquiry, MQL, SAL, SQL, Opportunity, Customer, Recycled, "
        "Disqualified, Lost (Baton cannot change a property's type: delete it and let Baton "
        "create it (baton run))"
    ) in lines
    assert not any("not checked" in line for line in lines)
    assert lines[-1] == "1 problem(s) in 10 checked field(s)."


def test_live_check_counts_missing_fields_in_the_total_printed_last(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    salesforce = FakeSystem("salesforce", absent=frozenset({"Title"}))
    result = live(runner, monkeypatch, FakeSystem("hubspot"), salesforce)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "2 problem(s) in 10 checked field(s)."
    assert lines[:-1][-2:] == [
        "missing field salesforce.Contact.Title: the dictionary uses it; create it (see the "
        "README's set-up for each system)",
        "missing field salesforce.Lead.Title: the dictionary uses it; create it (see the "
        "README's set-up for each system)",
    ]
