"""The `GET /` page: one small server-rendered HTML page, no scripts, no assets.

The figures come from `sync.queries.status` (the same query `baton status` prints), the open
dead letters from the store, and the API budget from the live `ApiBudget`s, so the page shows
the same truth as the CLI without any client-side code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from html import escape

from sqlalchemy import Engine

from connectors.http.budget import ApiBudget
from sync.queries.status import status
from sync.store.dead_letters import list_dead_letters
from sync.store.engine import for_reading

_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:0 0 2em}"
    "td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}"
    "th{background:#f4f4f4}"
)


def _table(title: str, head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(head)}">none</td></tr>'
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<h2>{escape(title)}</h2><table><tr>{header}</tr>{body}</table>"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _span(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = max(0, int(value.total_seconds()))
    return f"{seconds // 3600}h {seconds % 3600 // 60}m {seconds % 60}s"


def render_dashboard(
    store: Engine,
    budgets: Mapping[str, ApiBudget],
    *,
    headline: str = "",
    sla: timedelta = timedelta(hours=24),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str:
    """The whole page as HTML text."""
    at = now()
    with for_reading(store).connect() as conn:
        state = status(conn, now=at, runs=10, sla=sla)
        letters = list_dead_letters(conn, limit=20)
    summary = (
        f"{state.people:,} people; {state.dead_letters.get('open', 0):,} open dead letters; "
        f"{state.sla_overdue:,} MQLs past the {_span(state.sla)} SLA; "
        f"{state.ambiguous_people:,} ambiguous matches"
    )
    sections = [
        _table(
            "Last runs",
            ("started", "kind", "status", "took", "counts", "error"),
            (
                (
                    _when(r.started_at),
                    r.kind,
                    r.status,
                    _span(r.duration),
                    " ".join(f"{k}={v}" for k, v in sorted(r.counts.items()) if v),
                    r.error or "",
                )
                for r in state.runs
            ),
        ),
        _table(
            "Checkpoints",
            ("system", "object", "read up to", "lag"),
            ((c.system, c.object, _when(c.cursor), _span(c.lag)) for c in state.cursors),
        ),
        _table(
            "Open dead letters",
            ("id", "record", "direction", "code", "message", "attempts"),
            (
                (
                    d.id,
                    str(d.key),
                    d.direction.value,
                    d.vendor_code or "",
                    d.vendor_message or "",
                    d.attempts,
                )
                for d in letters
            ),
        ),
        _table(
            "API budget (this process)",
            ("system", "calls made", "daily remaining", "waited (s)", "read ahead waited (s)"),
            (
                (
                    name,
                    sum(snap.spent.values()),
                    "-" if snap.daily_remaining is None else snap.daily_remaining,
                    f"{snap.waited_s:.1f}",
                    f"{snap.waited_ahead_s:.1f}",
                )
                for name, snap in ((n, b.snapshot()) for n, b in sorted(budgets.items()))
            ),
        ),
    ]
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Baton</title>'
        f'<meta http-equiv="refresh" content="10"><style>{_STYLE}</style></head><body>'
        f"<h1>Baton</h1><p>{escape(headline)} (as of {_when(at)} UTC)</p>"
        f"<p>{escape(summary)}</p>" + "".join(sections) + "</body></html>"
    )
