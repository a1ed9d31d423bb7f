"""Shared HTTP plumbing for both connectors: classify, retry, budget, paginate, redact.

Each module has one job; the connectors compose them as: budget.spend -> call -> classify ->
retry (or raise), with pages walked by `paginate` and every log line passed through redaction.
"""

from __future__ import annotations

from connectors.http.budget import ApiBudget, BudgetSpec, Pace, hubspot_spec, salesforce_spec
from connectors.http.classify import classify_exception, classify_response
from connectors.http.client import build_client, raise_for_status
from connectors.http.pagination import AfterCursor, NextRecordsUrl, Offset, items, paginate
from connectors.http.redaction import RedactingFilter, install_redaction, redact, register_secrets
from connectors.http.retry import Retrier, RetryPolicy, call_with_retry

__all__ = [
    "AfterCursor",
    "ApiBudget",
    "BudgetSpec",
    "NextRecordsUrl",
    "Offset",
    "Pace",
    "RedactingFilter",
    "Retrier",
    "RetryPolicy",
    "build_client",
    "call_with_retry",
    "classify_exception",
    "classify_response",
    "hubspot_spec",
    "install_redaction",
    "items",
    "paginate",
    "raise_for_status",
    "redact",
    "register_secrets",
    "salesforce_spec",
]
