"""The dictionary loader: the shipped file is sound, and every mistake is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.dictionary import Rule
from mappings.loader import DictionaryError, default_path, load, load_default, loads
from mappings.model import Outcome, Stage

DEFAULT = default_path().read_text(encoding="utf-8")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing `needle`."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


def replace_once(old: str, new: str, *, after: str = "") -> str:
    start = DEFAULT.index(after) if after else 0
    at = DEFAULT.index(old, start)
    return DEFAULT[:at] + new + DEFAULT[at + len(old) :]


def errors_of(text: str) -> list[str]:
    with pytest.raises(DictionaryError) as caught:
        loads(text)
    return caught.value.lines


def test_the_shipped_dictionary_loads_with_every_stage_outcome_and_reason() -> None:
    d = load_default()
    assert list(d.stages) == list(Stage)
    assert set(d.outcomes) == set(Outcome)
    assert [r.label for r in d.rejection_reasons] == [
        "No Budget", "No Authority", "No Need", "Bad Timing",
        "Competitor", "Bad Data", "Unresponsive", "Not a Fit",
    ]  # fmt: skip
    assert d.stages[Stage.MQL].entry.score_at_least == 60
    assert d.salesforce_required["Lead"] == {
        "LastName": "[not provided]",
        "Company": "[not provided]",
    }
    assert d.fields["score"].rule is Rule.HUBSPOT_TO_SALESFORCE
    assert d.fields["owner"].rule is Rule.SALESFORCE_TO_HUBSPOT
    assert d.fields["job_title"].rule is Rule.TWO_WAY
    assert d.fields["score"].hubspot == "hubspotscore"
    assert d.fields["score"].salesforce["Lead"] == "Marketing_Score__c"
    assert d.fields["baton_id"].salesforce == {"Lead": "Baton_Id__c", "Contact": "Baton_Id__c"}
    for name in ("email", "first_name", "last_name", "company", "job_title", "phone", "country",
                 "state", "lead_source", "original_campaign", "score", "owner", "lead_status",
                 "funnel_stage", "entered.mql", "outcome_reason", "baton_id"):  # fmt: skip
        assert name in d.fields


def test_load_reads_a_users_file(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(DEFAULT.replace("score_at_least: 60", "score_at_least: 75"))
    assert load(path).stages[Stage.MQL].entry.score_at_least == 75


def test_an_unreadable_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DictionaryError) as caught:
        load(tmp_path / "missing.yaml")
    assert caught.value.lines == [
        f"{tmp_path / 'missing.yaml'}: cannot read the dictionary file (No such file or directory)"
    ]


MQL_OWNER = "owner: marketing\n    definition: >-\n      Marketing qualified"

READABLE = (
    "baton_id, company, country, email, first_name, job_title, last_name, lead_source, "
    "lead_status, original_campaign, outcome_reason, owner, phone, score, state"
)

CASES = [
    pytest.param(
        replace_once(MQL_OWNER, MQL_OWNER.replace("marketing", "marketting", 1)),
        ("owner: marketting", 1),
        "stages.mql.owner: 'marketting' is not one of marketing, sales",
        id="misspelt-owner",
    ),
    pytest.param(
        replace_once("  sal:\n", "  sall:\n"),
        ("  sall:", 1),
        "stages.sall: 'sall' is not one of subscriber, inquiry, mql, sal, sql, opportunity, "
        "customer",
        id="unknown-stage",
    ),
    pytest.param(
        replace_once("transforms: [email]", "transforms: [emal]"),
        ("transforms: [emal]", 1),
        "fields.email.transforms[0]: 'emal' is not a known transform (known: boolean, country, "
        "date, datetime, email, integer, number, owner, phone, reason, state, text, "
        "picklist:<name>)",
        id="unknown-transform",
    ),
    pytest.param(
        replace_once("transforms: [picklist:lead_status]", "transforms: [picklist:statuses]"),
        ("picklist:statuses", 1),
        "fields.lead_status.transforms[0]: picklist 'statuses' is not defined "
        "(picklists: lead_status)",
        id="unknown-picklist",
    ),
    pytest.param(
        replace_once("rule: two_way", "rule: twoway"),
        ("rule: twoway", 1),
        "fields.baton_id.rule: 'twoway' is not one of two_way, prefer_hubspot_unless_blank, "
        "always_hubspot, prefer_salesforce_unless_blank, always_salesforce, "
        "hubspot_to_salesforce, salesforce_to_hubspot, none",
        id="unknown-rule",
    ),
    pytest.param(
        replace_once("    max_length: 36\n", "    max_length: 36\n    colour: red\n"),
        ("colour: red", 1),
        "fields.baton_id.colour: unknown key (allowed: hubspot, salesforce, transforms, rule, "
        "max_length)",
        id="unknown-key",
    ),
    pytest.param(
        replace_once("hs_lead_status: [IN_PROGRESS,", "hs_lead_status: [NEW, IN_PROGRESS,"),
        ("hs_lead_status: [NEW, IN_PROGRESS,", 1),
        "stages.sal.hubspot.hs_lead_status[0]: 'NEW' already means mql (stages.mql); a system "
        "value can mean only one stage or outcome",
        id="value-claimed-twice",
    ),
    pytest.param(
        replace_once("score_at_least: 60", "score_at_least: sixty"),
        ("score_at_least: sixty", 1),
        "stages.mql.entry.score_at_least: 'sixty' is not a whole number",
        id="score-not-a-number",
    ),
    pytest.param(
        replace_once("score_at_least: 60", "score_at_least: -5"),
        ("score_at_least: -5", 1),
        "stages.mql.entry.score_at_least: -5 must be at least 0",
        id="score-negative",
    ),
    pytest.param(
        replace_once("      - Needs Analysis\n", "      - Needs Analysiss\n"),
        ("- Needs Analysiss", 1),
        "stages.opportunity.salesforce.opportunity_stage[0]: 'Needs Analysiss' is not one of "
        "Prospecting, Qualification, Needs Analysis, Value Proposition, Id. Decision Makers, "
        "Perception Analysis, Proposal/Price Quote, Negotiation/Review, Closed Won, Closed Lost",
        id="undeclared-opportunity-stage",
    ),
    pytest.param(
        replace_once("  entered.mql:\n", "  mql_date:\n"),
        ("  mql_date:", 1),
        "fields.mql_date: 'mql_date' is not a canonical field (allowed: baton_id, company, "
        "country, email, first_name, first_touch_at, funnel_stage, job_title, last_name, "
        "lead_source, lead_status, original_campaign, outcome_reason, owner, phone, score, state, "
        "entered.<stage>)",
        id="unknown-canonical-field",
    ),
    pytest.param(
        replace_once("    outcome: recycled\n", "    outcome: lost\n"),
        ("outcome: lost", 1),
        "rejection_reasons[0].outcome: 'lost' is not one of recycled, disqualified",
        id="reason-with-bad-outcome",
    ),
    pytest.param(
        replace_once("  - code: no_authority", "  - code: no_budget"),
        ("code: no_budget", 2),
        "rejection_reasons[1].code: 'no_budget' appears twice",
        id="duplicate-reason",
    ),
    pytest.param(
        replace_once("required_fields: [email, company]", "required_fields: [email, firm]"),
        ("required_fields: [email, firm]", 1),
        "stages.mql.entry.required_fields[1]: 'firm' is not a mapped person field the MQL "
        f"check can read (allowed: {READABLE})",
        id="unknown-required-field",
    ),
    pytest.param(
        replace_once("required_fields: [email, company]", "required_fields: [email, funnel_stage]"),
        ("required_fields: [email, funnel_stage]", 1),
        "stages.mql.entry.required_fields[1]: 'funnel_stage' is not a mapped person field the "
        f"MQL check can read (allowed: {READABLE})",
        id="required-field-the-mql-check-cannot-read-label",
    ),
    pytest.param(
        replace_once("required_fields: [email, company]", "required_fields: [entered.inquiry]"),
        ("required_fields: [entered.inquiry]", 1),
        "stages.mql.entry.required_fields[0]: 'entered.inquiry' is not a mapped person field the "
        f"MQL check can read (allowed: {READABLE})",
        id="required-field-the-mql-check-cannot-read-date",
    ),
    pytest.param(
        replace_once("score_at_least: 60", "score_at_least: true"),
        ("score_at_least: true", 1),
        "stages.mql.entry.score_at_least: true is not a whole number",
        id="score-a-boolean",
    ),
    pytest.param(
        replace_once("score_at_least: 60", 'score_at_least: "60"'),
        ('score_at_least: "60"', 1),
        "stages.mql.entry.score_at_least: '60' is text, not a whole number (write it without "
        "quotes)",
        id="score-quoted",
    ),
    pytest.param(
        replace_once("    hubspot: jobtitle\n", "    hubspot: phone\n"),
        ("    hubspot: phone", 2),
        "fields.phone.hubspot: 'phone' is already mapped by fields.job_title; map each system "
        "field once (remove one of the two)",
        id="hubspot-property-mapped-twice",
    ),
    pytest.param(
        replace_once("{Lead: Title, Contact: Title}", "{Lead: Title, Contact: Phone}"),
        ("{Lead: Phone, Contact: Phone}", 1),
        "fields.phone.salesforce.Contact: 'Phone' is already mapped by fields.job_title; map "
        "each system field once (remove one of the two)",
        id="salesforce-field-mapped-twice",
    ),
    pytest.param(
        replace_once(
            "  - {name: Closed Lost, closed: true, won: false}\n",
            "  - {name: Closed Lost, closed: true, won: false}\n"
            "  - {name: Prospecting, closed: true, won: true}\n",
        ),
        ("{name: Prospecting, closed: true", 1),
        "opportunity_stages[10].name: 'Prospecting' appears twice; keep one entry per "
        "Salesforce stage",
        id="opportunity-stage-listed-twice",
    ),
    pytest.param(
        replace_once(
            "      description: A rep accepts the lead and sets it to working.\n",
            "      description: A rep accepts the lead and sets it to working.\n"
            "      score_at_least: 80\n",
        ),
        ("score_at_least: 80", 1),
        "stages.sal.entry.score_at_least: only the mql entry rule is applied, so score_at_least "
        "here would be ignored (take it out, or move it to stages.mql.entry; description is "
        "free text)",
        id="entry-threshold-outside-mql",
    ),
    pytest.param(
        replace_once(
            "      description: Any conversion on a form, event or campaign reply.\n",
            "      description: Any conversion on a form, event or campaign reply.\n"
            "      excluded_email_domains: [gmail.com]\n",
        ),
        ("excluded_email_domains: [gmail.com]", 1),
        "stages.inquiry.entry.excluded_email_domains: only the mql entry rule is applied, so "
        "excluded_email_domains here would be ignored (take it out, or move it to "
        "stages.mql.entry; description is free text)",
        id="excluded-domains-outside-mql",
    ),
    pytest.param(
        replace_once("  Lead:\n    LastName", "  Leads:\n    LastName"),
        ("  Leads:", 1),
        "salesforce_required.Leads: 'Leads' is not one of Lead, Contact",
        id="unknown-sobject",
    ),
]


def test_mistakes_are_reported_in_file_order() -> None:
    text = replace_once("opportunity_stage: [Closed Won]", "opportunity_stage: [Closed Lost]")
    assert errors_of(text) == [
        f"funnel.yaml:{line_of(text, 'opportunity_stage: [Closed Lost]', 1)}: "
        "stages.customer.salesforce.opportunity_stage[0]: 'Closed Lost' is closed lost, so it "
        "can only mean lost",
        f"funnel.yaml:{line_of(text, 'opportunity_stage: [Closed Lost]', 2)}: "
        "outcomes.lost.salesforce.opportunity_stage[0]: 'Closed Lost' already means customer "
        "(stages.customer); a system value can mean only one stage or outcome",
    ]


@pytest.mark.parametrize(("text", "where", "message"), CASES)
def test_each_mistake_is_named_with_file_line_key_and_what_is_allowed(
    text: str, where: tuple[str, int], message: str
) -> None:
    line = line_of(text, *where)
    assert errors_of(text) == [f"funnel.yaml:{line}: {message}"]


def test_a_missing_stage_names_every_missing_one() -> None:
    start = DEFAULT.index("  sal:\n")
    end = DEFAULT.index("  sql:\n")
    text = DEFAULT[:start] + DEFAULT[end:]
    assert errors_of(text) == [
        f"funnel.yaml:{line_of(text, 'stages:')}: stages: missing sal (every one of subscriber, "
        "inquiry, mql, sal, sql, opportunity, customer needs an entry)"
    ]


def test_an_empty_reason_list_is_refused() -> None:
    start = DEFAULT.index("rejection_reasons:\n")
    end = DEFAULT.index("# Salesforce refuses a Lead")
    text = DEFAULT[:start] + "rejection_reasons: []\n\n" + DEFAULT[end:]
    assert errors_of(text) == [
        f"funnel.yaml:{line_of(text, 'rejection_reasons: []')}: rejection_reasons: the list is "
        "empty; give at least one reason"
    ]


def test_a_missing_required_section_is_named() -> None:
    text = DEFAULT.replace("version: 1\n", "")
    # A missing key is reported where its parent mapping starts.
    assert errors_of(text) == [
        f"funnel.yaml:{line_of(text, 'stages:')}: version: is required but missing"
    ]


def test_broken_yaml_names_the_line() -> None:
    text = DEFAULT.replace("  mql:\n", "  mql: [\n", 1)
    (message,) = errors_of(text)
    assert message.startswith("funnel.yaml:")
    assert "not valid YAML" in message


def test_a_key_given_twice_is_refused_not_silently_dropped() -> None:
    # YAML itself keeps the last of two equal keys: a second `hubspot:` block pasted under a
    # stage would drop the first one's values without a word.
    text = replace_once("    label: MQL\n", "    label: MQL\n    label: Qualified\n")
    first = line_of(text, "label: MQL")
    assert errors_of(text) == [
        f"funnel.yaml:{first + 1}: stages.mql.label: appears twice (first at line {first}); "
        "merge the two into one"
    ]


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    assert errors_of("- just\n- a list\n") == [
        "funnel.yaml:1: the file must be a mapping of sections (stages, ...)"
    ]


def test_several_mistakes_are_all_reported_in_one_go() -> None:
    text = DEFAULT.replace("rule: two_way", "rule: twoway").replace(
        "transforms: [phone]", "transforms: [fone]"
    )
    lines = errors_of(text)
    # Schema errors first (one per misspelt rule); cross-checks such as transform names run
    # only on a dictionary that passed the schema.
    assert len(lines) == DEFAULT.count("rule: two_way")
    assert all("rule: 'twoway' is not one of" in line for line in lines)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            "a:\n  b: [lead\n  c: 1\n",
            "funnel.yaml:3: not valid YAML: expected ',' or ']', but got ':' (while parsing a "
            "flow sequence begun at line 2); close the list with ']'",
        ),
        (
            "a:\n\tb: 1\n",
            "funnel.yaml:2: not valid YAML: found character '\\t' that cannot start any token; "
            "indent with spaces, not tabs",
        ),
        (
            "a: b: c\n",
            "funnel.yaml:1: not valid YAML: mapping values are not allowed here; quote a value "
            "that holds ': '",
        ),
    ],
)
def test_broken_yaml_says_where_it_began_and_the_fix(broken: str, message: str) -> None:
    assert errors_of(broken) == [message]


def test_a_key_overriding_a_merged_one_is_no_repeat() -> None:
    # YAML merge keys are how a long file shares a block; overriding a merged key is their point.
    text = replace_once(
        "  - code: no_budget\n", "  - <<: {label: Placeholder}\n    code: no_budget\n"
    )
    assert loads(text).rejection_reasons[0].label == "No Budget"


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefg"], "abcdefgh", strict=True)
)


@pytest.mark.timeout(10)
def test_nested_aliases_are_refused_in_one_line_not_expanded() -> None:
    # Ten lines standing for 9**8 values: walking every alias path ran for minutes.
    assert errors_of(BOMB + "version: *h\n") == [
        "funnel.yaml:1: the file holds more than 100,000 keys and values (each alias *name "
        "counted as the block it repeats); a funnel dictionary has a few thousand: drop the "
        "aliases or check that this is the right file"
    ]


@pytest.mark.timeout(10)
def test_an_alias_is_indexed_once_and_errors_under_it_name_the_alias_line() -> None:
    text = "a: &a {label: x}\nversion: *a\n"
    lines = errors_of(text)
    assert lines[0] == "funnel.yaml:2: version: {'label': 'x'} is not one of 1"


def test_a_file_over_one_mib_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(DEFAULT + "#" * (1024 * 1024), encoding="utf-8")
    with pytest.raises(DictionaryError) as caught:
        load(path)
    assert caught.value.lines == [
        f"{path}:1: the file is larger than 1024 KiB; a funnel dictionary is a few pages "
        "(check that --file names the right file)"
    ]


def test_too_deep_nesting_is_one_line_not_a_recursion_error() -> None:
    assert errors_of("a: " + "[" * 5000 + "]" * 5000 + "\n") == [
        "funnel.yaml:1: lists or mappings are nested too deeply to read; flatten the file"
    ]
