"""The console script: Ctrl-C while the command line loads ends quietly."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

import pytest

from baton import console


class _CtrlCOnImport(importlib.abc.MetaPathFinder):
    """Imports `baton.cli` as a user's Ctrl-C lands during it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname == "baton.cli":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_while_the_command_line_loads_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "baton.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_CtrlCOnImport(), *sys.meta_path])

    with pytest.raises(SystemExit) as stopped:
        console.main()

    assert stopped.value.code == 130
    assert "Traceback" not in capsys.readouterr().err


def test_the_console_script_runs_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["baton", "--help"])
    with pytest.raises(SystemExit) as stopped:
        console.main()
    assert stopped.value.code == 0
    assert "Keeps HubSpot and Salesforce aligned" in capsys.readouterr().out
