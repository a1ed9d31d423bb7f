"""Salesforce's error vocabulary: one exception, rendered as the REST API renders it.

Top-level REST errors are a JSON array `[{"message", "errorCode", "fields"?}]`; per-record
results inside collections and composite use `statusCode` instead (see `record_error`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class SalesforceError(Exception):
    """An answer Salesforce gives as an error: HTTP status, errorCode, message, fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def record_error(self) -> dict[str, Any]:
        """The per-record form used by sObject Collections and composite results."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}

    def response(self) -> Response:
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status,
            media_type="application/json;charset=UTF-8",
            headers=self.headers,
        )


def invalid_session() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", message)


def malformed_query(message: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_QUERY", message)


def invalid_field(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_FIELD", message)


def invalid_type(sobject: str) -> SalesforceError:
    return SalesforceError(
        400,
        "INVALID_TYPE",
        f"sObject type '{sobject}' is not supported. If you are attempting to use a custom "
        "object, be sure to append the '__c' after the entity name. Please reference your WSDL "
        "or the describe call for the appropriate names.",
    )
