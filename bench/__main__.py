"""`python -m bench [NAME ...]`: run every bench/bench_*.py (or the named ones) in turn."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"bench: no benchmark named {', '.join(unknown)}; have {', '.join(names)}")
        return 2
    if len(wanted) == 1:
        module = importlib.import_module(f"bench.{wanted[0]}")
        return 0 if module.run() is not False else 1
    # One process per benchmark, so each peak-memory figure is that benchmark's own.
    failed = [
        name
        for name in wanted
        if subprocess.run([sys.executable, "-m", "bench", name], check=False).returncode != 0
    ]
    if failed:
        print(f"bench: targets missed or errors in {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
