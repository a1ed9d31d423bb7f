"""The handout: every stage, outcome, reason and field appears, and Markdown stays a table."""

from __future__ import annotations

from mappings.handout import markdown, sections
from mappings.loader import load_default

D = load_default()


def test_every_section_has_a_row_per_entry() -> None:
    by_title = {s.title: s for s in sections(D)}
    assert len(by_title["Funnel stages (in order)"].rows) == len(D.stages)
    assert len(by_title["Outcomes"].rows) == len(D.outcomes)
    assert len(by_title["Rejection reasons (closed list)"].rows) == len(D.rejection_reasons)
    assert len(by_title["Shared fields"].rows) == len(D.fields)
    assert all(len(row) == len(s.columns) for s in sections(D) for row in s.rows)


def test_markdown_escapes_pipes_so_rows_keep_their_columns() -> None:
    custom = D.model_copy(
        update={
            "stages": {
                **D.stages,
                next(iter(D.stages)): next(iter(D.stages.values())).model_copy(
                    update={"definition": "opted in | newsletter"}
                ),
            }
        }
    )
    text = markdown(custom)
    assert "opted in \\| newsletter" in text
    row = next(line for line in text.splitlines() if line.startswith("| Subscriber"))
    assert row.count(" | ") == 5
