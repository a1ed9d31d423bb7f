"""One way to report a benchmark: a JSON line (for machines) and a Rich table (for people)."""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Target:
    """A figure's goal: `at_least` or `at_most` the given value."""

    value: float
    at_least: bool = True

    def met(self, figure: float) -> bool:
        return figure >= self.value if self.at_least else figure <= self.value

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.value:g}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(
    name: str,
    figures: Mapping[str, float | int | str],
    targets: Mapping[str, Target] | None = None,
) -> bool:
    """Print the JSON line and the table; return whether every target was met."""
    targets = targets or {}
    verdicts = {
        key: target.met(float(figures[key])) for key, target in targets.items() if key in figures
    }
    line = {"bench": name, **figures, "targets_met": verdicts}
    print(json.dumps(line, sort_keys=False), flush=True)
    table = Table(title=name)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met")
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        target = targets.get(key)
        met = "" if key not in verdicts else ("yes" if verdicts[key] else "NO")
        table.add_row(key, shown, str(target) if target else "", met)
    Console(file=sys.stderr).print(table)
    return all(verdicts.values())
