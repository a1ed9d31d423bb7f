"""Read a funnel dictionary file and say exactly what is wrong with it.

The only I/O in `mappings`: reading one YAML file. Every error names the file, the line, the
dotted key and what is allowed, e.g.
`funnel.yaml:42: stages.mql.owner: 'marketting' is not one of marketing, sales`, because the
people editing this file are marketing and sales operations, not Python developers.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterator
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path as FilePath
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mappings.dictionary import Dictionary, Path, Problem, cross_check

DEFAULT_NAME = "funnel.yaml"
# The shipped dictionary is about 12 KiB; a file past this is not a dictionary someone wrote.
MAX_BYTES = 1024 * 1024
# Keys and values once aliases are expanded (the shipped file has under 2,000): validation
# visits every one, so a few lines of nested aliases must not stand for millions.
MAX_NODES = 100_000


class DictionaryError(ValueError):
    """The dictionary file cannot be used; `lines` holds one `file:line: key: message` each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def default_path() -> FilePath:
    """The dictionary shipped with Baton (a real file inside the installed package)."""
    return FilePath(str(resources.files("mappings").joinpath(DEFAULT_NAME)))


def load(path: FilePath | None = None) -> Dictionary:
    """Load and validate a dictionary (the shipped default when `path` is None)."""
    path = path or default_path()
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DictionaryError([f"{path}: cannot read the dictionary file ({reason})"]) from exc
    if len(raw) > MAX_BYTES:
        raise DictionaryError([_too_big(str(path))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DictionaryError(
            [f"{path}: not UTF-8 text (byte {exc.start}); save the dictionary as UTF-8"]
        ) from exc
    return loads(text, name=str(path))


@cache
def load_default() -> Dictionary:
    """The shipped dictionary, parsed once per process (it never changes at run time)."""
    return load(None)


def loads(text: str, *, name: str = DEFAULT_NAME) -> Dictionary:
    """Validate dictionary text; `name` is how errors refer to the file."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8")) > MAX_BYTES:
        raise DictionaryError([_too_big(name)])
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node) > MAX_NODES:
            raise DictionaryError(
                [
                    f"{name}:1: the file holds more than {MAX_NODES:,} keys and values "
                    "(each alias *name counted as the block it repeats); a funnel dictionary "
                    "has a few thousand: drop the aliases or check that this is the right file"
                ]
            )
        # Indexed before construction, which flattens merge keys (`<<:`) into their mappings:
        # a key overriding a merged one is YAML's intent, not a repeat.
        lines, repeated = _line_index(node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise DictionaryError([_yaml_error(name, exc)]) from exc
    except RecursionError as exc:
        raise DictionaryError(
            [f"{name}:1: lists or mappings are nested too deeply to read; flatten the file"]
        ) from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise DictionaryError([f"{name}:1: the file must be a mapping of sections (stages, ...)"])
    if repeated:  # YAML keeps the last of two equal keys: the first would be dropped unseen
        raise DictionaryError(
            [
                f"{name}:{line}: {_dotted(path)}: appears twice (first at line {lines[path]}); "
                "merge the two into one"
                for path, line in repeated
            ]
        )
    try:
        dictionary = Dictionary.model_validate(data)
    except ValidationError as exc:
        raise DictionaryError(
            [_render(name, lines, _loc(err), _message(err)) for err in exc.errors()]
        ) from exc
    problems = sorted(cross_check(dictionary), key=lambda p: _line(lines, p.path))
    if problems:
        raise DictionaryError([_render(name, lines, p.path, p.message) for p in problems])
    return dictionary


def _too_big(name: str) -> str:
    return (
        f"{name}:1: the file is larger than {MAX_BYTES // 1024} KiB; a funnel dictionary is a "
        "few pages (check that --file names the right file)"
    )


def _yaml_error(name: str, exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's complaint as one line, with where the construct it was reading began (an
    unclosed `[` is found lines later) and the fix for the commonest slips."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    text = f"{name}:{line}: not valid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
        text += f" ({exc.context} begun at line {exc.context_mark.line + 1})"
    problem = exc.problem or ""
    if "'\\t'" in problem:
        text += "; indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        text += "; quote a value that holds ': '"
    elif "expected ',' or ']'" in problem:
        text += "; close the list with ']'"
    return text


# -- line numbers ------------------------------------------------------------------------------


def _line_index(root: yaml.Node | None) -> tuple[dict[Path, int], list[tuple[Path, int]]]:
    """Line of every key (mapping) and item (sequence), by its path from the root; and each key
    given a second time in its mapping, with the line of the repeat.

    An alias (`*name`) is the very node its anchor marked: it is walked once, where the anchor
    is, and keys under a later alias are found by the alias's own line. Following every alias
    path would take exponential time on a file of nested aliases (a "billion laughs").
    """
    index: dict[Path, int] = {}
    repeated: list[tuple[Path, int]] = []
    seen: set[int] = set()

    def walk(node: yaml.Node, path: Path) -> None:
        if isinstance(node, yaml.CollectionNode):
            if id(node) in seen:
                return
            seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                if child in index:
                    repeated.append((child, key.start_mark.line + 1))
                    continue
                index[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                index[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if root is not None:
        index[()] = root.start_mark.line + 1
        walk(root, ())
    return index, repeated


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document holds with every alias expanded (capped just past
    MAX_NODES), each distinct node counted once: an alias is its anchor's node object."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total = min(total + size(child), MAX_NODES + 1)
        sizes[id(node)] = total
        return total

    return size(root)


def _line(lines: dict[Path, int], path: Path) -> int:
    for end in range(len(path), -1, -1):
        found = lines.get(tuple(str(p) if isinstance(p, Enum) else p for p in path[:end]))
        if found is not None:
            return found
    return 1


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _render(name: str, lines: dict[Path, int], path: Path, message: str) -> str:
    return f"{name}:{_line(lines, path)}: {_dotted(path)}: {message}"


# -- messages ----------------------------------------------------------------------------------


def _loc(err: ErrorDetails) -> Path:
    return tuple(p for p in err["loc"] if p != "[key]")


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 1, 60, 60


def _quote(value: Any) -> str:
    """`value` as the file spells it, shortened: an alias can make it huge."""
    if isinstance(value, str):
        return f"'{_SHORT.repr(value)[1:-1]}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _SHORT.repr(value)


def _message(err: ErrorDetails) -> str:
    kind, given = err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind in {"enum", "literal_error"}:
        expected = re.sub(r"<\w+\.\w+: '?([^>']+)'?>", r"\1", str(ctx.get("expected", "")))
        allowed = expected.replace("'", "").replace(" or ", ", ")
        return f"{_quote(given)} is not one of {allowed}"
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        allowed_keys = _allowed_keys(_loc(err)[:-1])
        return f"unknown key (allowed: {', '.join(allowed_keys)})"
    if kind in {"string_type", "string_too_short"}:
        return f"needs text, got {_quote(given) if given not in (None, '') else 'nothing'}"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        if isinstance(given, str) and given.strip().isdigit():
            return f"{_quote(given)} is text, not a whole number (write it without quotes)"
        return f"{_quote(given)} is not a whole number"
    if kind in {"bool_parsing", "bool_type"}:
        return f"{_quote(given)} is not true or false"
    if kind in {"greater_than_equal", "greater_than"}:
        bound = ctx.get("ge", ctx.get("gt"))
        relation = "at least" if kind == "greater_than_equal" else "more than"
        return f"{_quote(given)} must be {relation} {bound}"
    if kind in {"dict_type", "model_type"}:
        return f"needs a mapping of keys, got {_quote(given)}"
    if kind in {"tuple_type", "list_type"}:
        return f"needs a list, got {_quote(given)}"
    if kind == "string_pattern_mismatch":
        return f"{_quote(given)} must be lower_case_with_underscores"
    return f"{err['msg']} (got {_quote(given)})"


def _allowed_keys(path: Path) -> list[str]:
    """The keys the model at `path` accepts, by walking Dictionary's annotations."""
    current: Any = Dictionary
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            info = candidate.model_fields.get(str(part))
            if info is not None:
                return info.annotation
        origin = get_origin(candidate)
        if origin is dict:
            return get_args(candidate)[1]
        if origin is tuple or origin is list:
            return get_args(candidate)[0]
    return None


def _unwrap(annotation: Any) -> Iterator[Any]:
    if get_origin(annotation) in (Union, UnionType):
        yield from get_args(annotation)
    else:
        yield annotation


__all__ = ["DictionaryError", "Problem", "default_path", "load", "load_default", "loads"]
