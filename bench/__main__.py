"""`python -m bench [NAME ...]`: run every bench/bench_*.py (or the named ones) in turn."""

from __future__ import annotations

import importlib
import pkgutil
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
    ok = True
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        ok = module.run() is not False and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
