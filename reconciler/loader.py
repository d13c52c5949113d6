"""Manifest files -> desired State. Every problem in every file is collected and reported at
once as `path:line: message`; nothing downstream runs when there is one.

PyYAML composes each document into a node tree first, so every key and list item keeps its line;
the tree is then turned into plain data with guards (duplicate keys, alias bombs, recursion)
and validated by the pydantic schema in `manifest.py`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler import manifest
from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifest import Desired, Document, SourceDocument

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000
SUFFIXES = (".yaml", ".yml")


def load(path: Path) -> Desired:
    """Load every manifest under `path` (a file, or a folder searched recursively in sorted order)."""
    files, problems = discover(path)
    sources: list[SourceDocument] = []
    for file in files:
        found, file_problems = _load_file(file)
        sources.extend(found)
        problems.extend(file_problems)
    desired, cross = manifest.build_state(sources)
    problems.extend(cross)
    if problems:
        raise ManifestError(problems)
    return desired


def discover(path: Path) -> tuple[list[Path], list[Diagnostic]]:
    """The manifest files under `path`, or the reason there are none."""
    if not path.exists():
        return [], [Diagnostic(str(path), 0, "no such file or directory")]
    if path.is_file():
        return [path], []
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix in SUFFIXES and p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        return [], [Diagnostic(str(path), 0, "no *.yaml or *.yml manifest files found here")]
    return files, []


def _load_file(file: Path) -> tuple[list[SourceDocument], list[Diagnostic]]:
    name = str(file)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            return [], [Diagnostic(name, 0, f"file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})")]
        data = file.read_bytes()
    except OSError as exc:
        return [], [Diagnostic(name, 0, f"cannot read: {exc.strerror or exc}")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [Diagnostic(name, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")]
    return _parse(name, text)


def _parse(name: str, text: str) -> tuple[list[SourceDocument], list[Diagnostic]]:
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        return [], [Diagnostic(name, line, _yaml_message(exc))]
    except yaml.YAMLError as exc:
        return [], [Diagnostic(name, 0, f"invalid YAML: {exc}")]
    sources: list[SourceDocument] = []
    problems: list[Diagnostic] = []
    for node in nodes:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            continue
        converter = _Converter(name)
        data = converter.convert(node, ())
        problems.extend(converter.problems)
        if converter.budget < 0:
            continue
        if not isinstance(data, dict):
            problems.append(Diagnostic(name, node.start_mark.line + 1, "a manifest document must be a mapping"))
            continue
        try:
            document = Document.model_validate(data)
        except ValidationError as exc:
            problems.extend(_diagnostics(name, exc, converter))
            continue
        if converter.problems:
            continue
        sources.append(SourceDocument(name, document, converter.lines))
    return sources, problems


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or str(exc)
    if "'\\t'" in problem:
        return "tab character: YAML indentation must use spaces"
    context = f" ({exc.context})" if exc.context else ""
    return f"invalid YAML: {problem}{context}"


class _Converter:
    """Node tree -> plain data, recording the line of each key and item."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[manifest.Path, int] = {}
        self.raw: dict[manifest.Path, str] = {}
        self.problems: list[Diagnostic] = []
        self.budget = MAX_NODES
        self.active: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def _fail(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Diagnostic(self.name, node.start_mark.line + 1, message))

    def convert(self, node: yaml.Node, at: manifest.Path) -> Any:
        self.budget -= 1
        if self.budget < 0:
            if self.budget == -1:
                self._fail(node, f"document expands to more than {MAX_NODES} values (an alias bomb?)")
            return None
        if id(node) in self.active:
            self._fail(node, "recursive alias: a value contains itself")
            return None
        self.lines.setdefault(at, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, at)
        if isinstance(node, yaml.SequenceNode):
            self.active.add(id(node))
            items = [self.convert(child, (*at, i)) for i, child in enumerate(node.value)]
            self.active.discard(id(node))
            return items
        self.raw[at] = str(node.value)
        try:
            return self.scalars.construct_object(node)
        except yaml.YAMLError as exc:
            self._fail(node, f"invalid value: {exc}")
            return None

    def _mapping(self, node: yaml.MappingNode, at: manifest.Path) -> dict[str, Any]:
        self.active.add(id(node))
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._fail(key_node, "merge keys ('<<') are not supported; repeat the keys")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or not key_node.tag.endswith(":str"):
                self._fail(key_node, f"keys must be strings, got {key_node.value!r}")
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                self._fail(key_node, f"duplicate key {key!r} (first at line {seen[key]})")
                continue
            seen[key] = line
            self.lines[(*at, key)] = line
            result[key] = self.convert(value_node, (*at, key))
        self.active.discard(id(node))
        return result


def _vocabulary() -> list[str]:
    words: set[str] = set()
    for model in (
        manifest.Document,
        manifest.PluginDoc,
        manifest.PluginVersionDoc,
        manifest.RuntimeDoc,
        manifest.PinDoc,
        manifest.SettingsDoc,
        manifest.NomadDoc,
        manifest.CsiPluginDoc,
    ):
        words.update(model.model_fields)
    return sorted(words)


def _diagnostics(name: str, exc: ValidationError, conv: _Converter) -> list[Diagnostic]:
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        line = _line_for(loc, conv.lines)
        where = _dotted(loc)
        out.append(
            Diagnostic(name, line, f"{where}: {_friendly(err, conv.raw.get(loc))}" if where else _friendly(err, None))
        )
    return out


def _line_for(loc: manifest.Path, lines: dict[manifest.Path, int]) -> int:
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _dotted(loc: manifest.Path) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


_TYPE_NAMES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing (null)",
}


def _friendly(err: Any, raw: str | None) -> str:
    kind = err["type"]
    got = _TYPE_NAMES.get(type(err.get("input")), type(err.get("input")).__name__)
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        close = difflib.get_close_matches(key, _vocabulary(), n=1)
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "string_type":
        hint = f" (quote it: '{raw}')" if raw is not None and got in ("a number", "a boolean") else ""
        return f"expected a string, got {got}{hint}"
    if kind in ("int_type", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind == "bool_type":
        return f"expected true or false, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind in ("dict_type", "model_type"):
        return f"expected a mapping, got {got}"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, got {err['input']!r}"
    if kind == "too_short":
        return "must not be empty"
    if kind == "greater_than_equal":
        return f"must be >= {err['ctx']['ge']}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    return str(err["msg"])


__all__ = ["discover", "load"]
