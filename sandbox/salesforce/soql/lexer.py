"""SOQL tokens: a hand-written scanner that keeps every token's position for error messages.

String literals keep their raw text: `\\%` and `\\_` mean different things inside LIKE patterns
than elsewhere, so decoding happens in the compiler once the operator is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from sandbox.salesforce.errors import SalesforceError, malformed_query


class Kind(Enum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    OP = "operator"
    COMMA = ","
    LPAREN = "("
    RPAREN = ")"
    COLON = ":"
    DOT = "."
    EOF = "<EOF>"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # source text (for STRING: the raw content between the quotes)
    pos: int  # offset in the query text

    def shown(self) -> str:
        """How Salesforce names a token in `unexpected token: 'X'`."""
        if self.kind is Kind.EOF:
            return "<EOF>"
        return f"'{self.text}'"


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_PUNCT = {",": Kind.COMMA, "(": Kind.LPAREN, ")": Kind.RPAREN, ":": Kind.COLON, ".": Kind.DOT}


def error_at(
    text: str, pos: int, message: str, *, code: str = "MALFORMED_QUERY"
) -> SalesforceError:
    """Salesforce echoes the query, a caret under the culprit, then `ERROR at Row:r:Column:c`."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    caret = " " * (column - 1) + "^"
    full = f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}"
    if code == "MALFORMED_QUERY":
        return malformed_query(full)
    return SalesforceError(400, code, full)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            end = _string_end(text, i)
            tokens.append(Token(Kind.STRING, text[i + 1 : end], i))
            i = end + 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            kind, match = _number_like(text, i)
            end = match.end()
            if end < n and (text[end].isalnum() or text[end] == "_"):
                raise error_at(text, i, f"unexpected token: '{_word_at(text, i)}'")
            tokens.append(Token(kind, match.group(), i))
            i = end
            continue
        ident = _IDENT.match(text, i)
        if ident:
            tokens.append(Token(Kind.IDENT, ident.group(), i))
            i = ident.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token(Kind.OP, op, i))
            i += len(op)
            continue
        if ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i))
            i += 1
            continue
        if ch == "-" and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == "."):
            negative = _NUMBER.match(text, i + 1)
            if negative:
                tokens.append(Token(Kind.NUMBER, "-" + negative.group(), i))
                i = negative.end()
                continue
        raise error_at(text, i, f"unexpected token: '{ch}'")
    tokens.append(Token(Kind.EOF, "", n))
    return tokens


def _number_like(text: str, pos: int) -> tuple[Kind, re.Match[str]]:
    """Datetime, date or number starting at `pos` (the longest form wins)."""
    for kind, pattern in ((Kind.DATETIME, _DATETIME), (Kind.DATE, _DATE), (Kind.NUMBER, _NUMBER)):
        match = pattern.match(text, pos)
        if match:
            return kind, match
    raise error_at(text, pos, f"unexpected token: '{_word_at(text, pos)}'")


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            return i
        i += 1
    raise error_at(text, start, f"line 1:{start} mismatched character '<EOF>' expecting \"'\"")


def _word_at(text: str, pos: int) -> str:
    end = pos
    while end < len(text) and not text[end].isspace() and text[end] not in ",()'":
        end += 1
    return text[pos:end]


_SIMPLE_ESCAPES = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
}


def decode_string(raw: str, *, like: bool = False) -> str:
    """Decode SOQL escapes; with `like=True` return a LIKE pattern for `ESCAPE '\\'`.

    In a LIKE pattern `%` and `_` stay wildcards, `\\%`/`\\_` become escaped literals and every
    other character that SQLite's LIKE would treat specially is escaped.
    Raises ValueError on an invalid escape (the caller turns it into MALFORMED_QUERY).
    """
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(raw):
            raise ValueError("Invalid string literal: trailing backslash")
        nxt = raw[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            decoded = _SIMPLE_ESCAPES[nxt]
            out.append(_like_char(decoded) if like else decoded)
            i += 2
        elif nxt in "%_":
            out.append("\\" + nxt)  # escaped wildcard in LIKE, literal text elsewhere
            i += 2
        elif nxt == "u":
            hexdigits = raw[i + 2 : i + 6]
            if len(hexdigits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in hexdigits):
                raise ValueError(f"Invalid unicode escape: \\u{hexdigits}")
            decoded = chr(int(hexdigits, 16))
            out.append(_like_char(decoded) if like else decoded)
            i += 6
        else:
            raise ValueError(f"Invalid string literal escape sequence: \\{nxt}")
    return "".join(out)


def _like_char(ch: str) -> str:
    """A decoded character that must match itself literally in a LIKE pattern."""
    return "\\" + ch if ch in "\\%_" else ch


def encode_string(value: str) -> str:
    """The SOQL literal for `value` (used by tests and by anyone building SOQL safely)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\b", "\\b")
        .replace("\f", "\\f")
    )
    return f"'{escaped}'"
