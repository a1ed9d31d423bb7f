"""HubSpot's error vocabulary: one exception, rendered as the CRM APIs render it."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import Response

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
BAD_REQUEST_MESSAGE = "There was a problem with the request."
# HubSpot's words for a record id that names no record, numeric or not (two spaces and all).
OBJECT_NOT_FOUND_MESSAGE = "Object not found.  objectId are usually numeric."


def correlation_id() -> str:
    return str(uuid.uuid4())


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """orjson bytes straight out: the serving hot path skips FastAPI's encoders."""
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def batch_response(
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    *,
    started: str,
    completed: str,
    status: int,
) -> Response:
    """A batch endpoint's answer: its results, and the inputs that failed as `errors` with
    `numErrors` (HubSpot's BatchResponse...WithErrors shape)."""
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = started
    body["completedAt"] = completed
    return json_response(body, status)


class HubSpotError(Exception):
    """An answer HubSpot gives as an error: status, category, message, optional details."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        context: dict[str, list[str]] | None = None,
        sub_category: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{category}: {message}")
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.context = context
        self.sub_category = sub_category
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "error", "message": self.message}
        body["correlationId"] = correlation_id()
        if self.errors is not None:
            body["errors"] = self.errors
        if self.context is not None:
            body["context"] = self.context
        body["category"] = self.category
        if self.sub_category:
            body["subCategory"] = self.sub_category
        body.update(self.extra)
        return body

    def batch_error(self) -> dict[str, Any]:
        """The `StandardError` item inside a 207 `errors` array."""
        item: dict[str, Any] = {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context or {},
            "errors": self.errors or [],
            "links": {},
        }
        return item

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return json_response(self.body(), self.status, headers)


def unauthorized() -> HubSpotError:
    return HubSpotError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)


def not_found(message: str = "Resource not found", ids: list[str] | None = None) -> HubSpotError:
    context = {"ids": ids} if ids is not None else None
    return HubSpotError(404, "OBJECT_NOT_FOUND", message, context=context)


def object_not_found(object_id: str) -> HubSpotError:
    """404 for a single record read or written by an id that names none (`/contacts/abc`):
    HubSpot's message with the id as sent in `context.id`, as its answers are quoted in SDK
    issues and clients' tests (HubSpot/hubspot-api-nodejs#669); its docs show no example."""
    return HubSpotError(
        404, "OBJECT_NOT_FOUND", OBJECT_NOT_FOUND_MESSAGE, context={"id": [object_id]}
    )


def validation(message: str, **kwargs: Any) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, **kwargs)


def property_errors(problems: list[dict[str, Any]]) -> HubSpotError:
    """400 for invalid property values: HubSpot embeds the problem list as JSON in the message."""
    detail = orjson.dumps(problems).decode()
    errors = [
        {
            "message": p["message"],
            "code": p["error"],
            "context": {"propertyName": [p["name"]]},
        }
        for p in problems
    ]
    return validation(f"Property values were not valid: {detail}", errors=errors)


def problem(name: str, error: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
    }
