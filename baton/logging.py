"""Structured log lines (key=value or JSON) on stderr, with secrets masked.

Callers log a short event name and pass facts as `extra={"kv": {...}}`; the formatter renders
them after the standard fields. Redaction runs twice on purpose: the connectors' filter on the
root logger and its handler (message, args and tracebacks), and `redact` over the finished line,
so no extra field can carry a registered secret out either.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO

import orjson

from connectors.http.redaction import install_redaction, redact

KV = "kv"  # the `extra` key whose mapping becomes fields of the line

_NOISY = ("alembic", "httpx", "httpcore", "urllib3", "uvicorn.access", "simple_salesforce")


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The standard fields of a line, then the caller's `kv` facts."""
    fields: dict[str, object] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    extra = getattr(record, KV, None)
    if isinstance(extra, Mapping):
        fields.update({str(k): v for k, v in extra.items()})
    if record.exc_text:
        fields["exc"] = record.exc_text
    elif record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


def _kv_value(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=info logger=baton.daemon msg=cycle read=12 ...` (logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(f"{k}={_kv_value(v)}" for k, v in fields_of(record).items())
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(orjson.dumps(fields_of(record), default=str).decode())


def json_logging() -> bool:
    """Whether Baton's handler (`configure_logging`) writes JSON lines."""
    return any(
        getattr(h, "_baton", False) and isinstance(h.formatter, JsonFormatter)
        for h in logging.getLogger().handlers
    )


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = KV,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route every logger to one stderr handler with the chosen format, redaction installed.

    Replaces handlers this function installed earlier, so calling it twice is harmless.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_baton", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    handler._baton = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    install_redaction(root, secrets)
    return handler
