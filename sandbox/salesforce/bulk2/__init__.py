"""Bulk API 2.0 (query and ingest jobs) over any backend that can run SOQL and apply rows.

Jobs run synchronously when they are closed (query: at creation, ingest: at UploadComplete)
but report `InProgress` on their first poll, as a real org does for a moment, so clients walk
their polling loop. Results live in anonymous temporary files, never in memory: query rows as
JSON lines rendered to CSV page by page (the locator carries the row index and byte offset),
ingest results as ready CSV streamed back.
"""

from __future__ import annotations

from sandbox.salesforce.bulk2.backend import Bulk2Backend, IngestResult
from sandbox.salesforce.bulk2.routes import bulk2_router

__all__ = ["Bulk2Backend", "IngestResult", "bulk2_router"]
