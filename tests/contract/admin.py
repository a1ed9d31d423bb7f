"""The `/_sandbox/` admin calls contract tests make on an imitation they serve."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx


class SandboxAdmin:
    """Counting, faults and limits of the imitation served at `url` (over TLS with the
    `ca_file` it was served with, if any)."""

    url: str  # (no defaults here: the dataclasses using this keep their own field order)

    def admin(self) -> httpx.Client:
        ca_file: Path | None = getattr(self, "ca_file", None)
        verify: Any = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        return httpx.Client(base_url=self.url, verify=verify, timeout=30)

    def stats(self) -> dict[str, Any]:
        with self.admin() as http:
            body: dict[str, Any] = http.get("/_sandbox/stats").json()
            return body

    def reset_stats(self) -> None:
        with self.admin() as http:
            http.delete("/_sandbox/stats").raise_for_status()

    def faults(self, **plan: Any) -> None:
        """`PUT /_sandbox/faults` with a `FaultPlan` body."""
        with self.admin() as http:
            http.put("/_sandbox/faults", json=plan).raise_for_status()

    def clear_faults(self) -> None:
        with self.admin() as http:
            http.delete("/_sandbox/faults").raise_for_status()

    def limits(self, **update: Any) -> dict[str, Any]:
        """`PUT /_sandbox/limits` (`enabled`, `daily_remaining`); the limits as they now are."""
        with self.admin() as http:
            reply = http.put("/_sandbox/limits", json=update)
            reply.raise_for_status()
            body: dict[str, Any] = reply.json()
            return body
