"""`POST /composite` and `POST /composite/batch`: up to 25 subrequests in one HTTP call.

Composite subrequests may depend on each other (`@{ref.path}`), count as one API call, and
with `allOrNone` the first failure rolls everything back (the rest report PROCESSING_HALTED).
Batch subrequests are independent, each counts against the allocation, and `haltOnError`
answers the rest with 412 BATCH_PROCESSING_HALTED. Both run subrequests through the same
endpoint table as direct requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.salesforce.api.base import Call, Reply
from sandbox.salesforce.api.context import Context
from sandbox.salesforce.errors import SalesforceError

MAX_SUBREQUESTS = 25
FORBIDDEN_HEADERS = frozenset({"accept", "authorization", "content-type"})
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)

Dispatch = Callable[[str, str, Any, Mapping[str, str]], Reply]


class _RollBack(Exception):
    pass


class _Unresolved(Exception):
    def __init__(self, ref: str, path: str) -> None:
        super().__init__(path)
        self.ref = ref
        self.path = path


def _lookup(value: Any, path: str) -> Any:
    for name, index in _STEP.findall(path):
        if name:
            if not isinstance(value, dict) or name not in value:
                raise KeyError(path)
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
    return value


def _resolve(value: Any, results: Mapping[str, Any]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            ref, path = match.group(1), match.group(2)
            if ref not in results:
                raise _Unresolved(ref, path)
            try:
                return str(_lookup(results[ref], path))
            except KeyError:
                raise _Unresolved(ref, path) from None

        return _REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    return value


def _halted(ref: str, message: str = ROLLED_BACK) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def _validate(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "compositeRequest is required")
    requests = body["compositeRequest"]
    if len(requests) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400, "LIMIT_EXCEEDED", f"Max number of subrequests exceeded: {MAX_SUBREQUESTS}"
        )
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not all(
            k in item for k in ("method", "url", "referenceId")
        ):
            raise SalesforceError(
                400, "INVALID_INPUT", "Each subrequest needs method, url and referenceId"
            )
        ref = str(item["referenceId"])
        if ref in seen or not re.fullmatch(r"[A-Za-z0-9_]+", ref):
            raise SalesforceError(400, "INVALID_INPUT", f"Invalid referenceId: {ref}")
        seen.add(ref)
        headers = item.get("httpHeaders") or {}
        if any(k.lower() in FORBIDDEN_HEADERS for k in headers):
            raise SalesforceError(
                400,
                "INVALID_INPUT",
                "Subrequests may not set Accept, Authorization or Content-Type headers",
            )
    return requests, bool(body.get("allOrNone", False))


class CompositeService:
    def __init__(self, ctx: Context, dispatch: Dispatch) -> None:
        self.ctx = ctx
        self.dispatch = dispatch

    def _one(self, item: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
        ref = str(item["referenceId"])
        try:
            url = _resolve(str(item["url"]), results)
            body = _resolve(item.get("body"), results)
        except _Unresolved as exc:
            return _halted(
                ref,
                f"Invalid reference specified. No value for {exc.path} found in {exc.ref}. "
                f"Provided referenceId ('{exc.ref}') must start with a letter or a number, and "
                "it can contain only letters, numbers and underscores ('_').",
            )
        try:
            reply = self.dispatch(
                str(item["method"]).upper(), url, body, item.get("httpHeaders") or {}
            )
            status, payload, headers = reply.status, reply.json_body(), dict(reply.headers)
        except SalesforceError as exc:
            status, payload, headers = exc.status, exc.body(), {}
        if status < 300 and payload is not None:
            results[ref] = payload
        return {
            "body": payload if status != 204 else None,
            "httpHeaders": headers,
            "httpStatusCode": status,
            "referenceId": ref,
        }

    def run(self, call: Call) -> Reply:
        requests, all_or_none = _validate(call.body)
        results: dict[str, Any] = {}
        responses: list[dict[str, Any]] = []
        writes_before = self.ctx.stats.writes
        try:
            with self.ctx.org.batch():
                for item in requests:
                    response = self._one(item, results)
                    responses.append(response)
                    if all_or_none and response["httpStatusCode"] >= 400:
                        raise _RollBack
        except _RollBack:
            self.ctx.stats.writes = writes_before
            failed = len(responses) - 1
            out = [
                responses[i] if i == failed else _halted(str(item["referenceId"]))
                for i, item in enumerate(requests)
            ]
            return Reply(200, {"compositeResponse": out})
        return Reply(200, {"compositeResponse": responses})


def _batch_requests(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("batchRequests"), list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "batchRequests is required")
    requests = body["batchRequests"]
    if len(requests) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400, "LIMIT_EXCEEDED", f"Max number of subrequests exceeded: {MAX_SUBREQUESTS}"
        )
    for item in requests:
        if not isinstance(item, dict) or "method" not in item or "url" not in item:
            raise SalesforceError(400, "INVALID_INPUT", "Each subrequest needs method and url")
    return requests, bool(body.get("haltOnError", False))


class BatchService:
    def __init__(self, ctx: Context, dispatch: Dispatch) -> None:
        self.ctx = ctx
        self.dispatch = dispatch

    def run(self, call: Call) -> Reply:
        requests, halt_on_error = _batch_requests(call.body)
        results: list[dict[str, Any]] = []
        halted = False
        for index, item in enumerate(requests):
            if halted:
                results.append(
                    {
                        "statusCode": 412,
                        "result": [
                            {
                                "errorCode": "BATCH_PROCESSING_HALTED",
                                "message": "Batch processing halted per request",
                            }
                        ],
                    }
                )
                continue
            url = str(item["url"])
            if not url.startswith("/services/data/"):
                url = "/services/data/" + url.lstrip("/")
            try:
                if index:  # the batch itself was counted once on the way in
                    self.ctx.limits.consume()
                reply = self.dispatch(str(item["method"]).upper(), url, item.get("richInput"), {})
                status, payload = reply.status, reply.json_body()
            except SalesforceError as exc:
                status, payload = exc.status, exc.body()
            results.append({"statusCode": status, "result": payload})
            halted = halt_on_error and status >= 400
        has_errors = any(r["statusCode"] >= 400 for r in results)
        return Reply(200, {"hasErrors": has_errors, "results": results})
