"""Baton's HTTP service: webhook receivers, health and readiness, metrics and a dashboard.

`create_app(deps)` builds the FastAPI app; nothing is built at import time.
"""

from __future__ import annotations

from baton.service.app import Readiness, ServiceDeps, create_app

__all__ = ["Readiness", "ServiceDeps", "create_app"]
