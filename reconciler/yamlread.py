"""YAML text -> plain data that remembers where it came from: the line of every key and list item.

Shared by the manifests (`loader.py`) and the targets file (`fleet/config.py`). PyYAML composes
each document into a node tree first, so every key and list item keeps its line; the tree is then
turned into plain data with guards (duplicate keys, alias bombs, recursion), and schema errors
become friendly messages (`friendly`).
"""

from __future__ import annotations

import copy
import datetime
import difflib
from collections.abc import Callable
from typing import Any

import yaml

from reconciler.errors import Diagnostic

Path = tuple[str | int, ...]
"""Where a value is in a document: keys and list indexes from the top."""

MAX_NODES = 100_000
"""How many values aliases (`*name`) may add to one file. Plain nodes are bounded by the file size."""
MAX_DEPTH = 100


def _never(_at: Path) -> bool:
    return False


class _TooDeep(yaml.composer.ComposerError):
    """Nesting deeper than any manifest needs (and than Python's recursion allows)."""


class _Loader(yaml.SafeLoader):
    """The safe loader, with a depth limit and the position of each alias kept.

    PyYAML returns the anchored node itself for an alias, so everything reached through `*name`
    would carry the anchor's line. Each alias becomes a shallow copy at the alias's position
    (sharing the anchored node's children), noted in `aliases` (node id -> line).
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.aliases: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark: yaml.Mark = self.current_event.start_mark  # check_event() peeked at it
            node = super().compose_node(parent, index)
            if node is None:
                return None
            alias = copy.copy(node)
            alias.start_mark = mark
            self.aliases[id(alias)] = mark.line + 1
            return alias
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH and self.check_event(yaml.NodeEvent):
                raise _TooDeep(None, None, f"nested more than {MAX_DEPTH} levels deep", self.current_event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def compose(text: str, fast: bool) -> tuple[list[yaml.Node], dict[int, int]]:
    # libyaml composes ~8x faster. Use it when there can be no anchors or aliases (whose lines only
    # the Python loader keeps) and it succeeds; errors are reported by the Python loader, whose
    # messages and marks the diagnostics are written for.
    if fast and _FAST_LOADER is not None and "&" not in text and "*" not in text:
        try:
            return [n for n in yaml.compose_all(text, Loader=_FAST_LOADER) if n is not None], {}
        except (yaml.YAMLError, RecursionError):
            pass
    loader = _Loader(text)
    try:
        nodes = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        return nodes, loader.aliases
    finally:
        loader.dispose()


def yaml_message(exc: yaml.MarkedYAMLError) -> str:
    if isinstance(exc, _TooDeep):
        return str(exc.problem)
    problem = exc.problem or str(exc)
    if "'\\t'" in problem:
        return "tab character: YAML indentation must use spaces"
    first = exc.context_mark
    if problem == "second occurrence" and exc.context and first:
        # PyYAML words this one backwards: "found duplicate anchor 'a'; first occurrence".
        anchor = exc.context.removeprefix("found ").split(";")[0]
        return f"invalid YAML: {anchor} (first at line {first.line + 1})"
    context = ""
    if exc.context:
        at = exc.problem_mark
        started = f" that starts at line {first.line + 1}" if first and at and first.line != at.line else ""
        context = f" ({exc.context}{started})"
    return f"invalid YAML: {problem}{context}"


class Budget:
    """The values aliases may still add to a file; the excess is reported once."""

    def __init__(self) -> None:
        self.left = MAX_NODES
        self.reported = False


class Converter:
    """Node tree -> plain data, recording the line of each key and item.

    Inside an alias (`*name`) every line is the alias's own: that is where the value is used.
    Where conversion failed (`failed`) the value is None, and where a mapping lost merged keys
    (`partial`) keys are missing; the schema's complaints about those would only repeat the
    problem already reported, so `_diagnostics` drops them.
    """

    def __init__(
        self, name: str, aliases: dict[int, int], budget: Budget, secret: Callable[[Path], bool] = _never
    ) -> None:
        self.name = name
        self.secret = secret
        """Is the value at a path a secret (a plugin's env value)? Its text never goes into a message."""
        self.aliases = aliases
        self.lines: dict[Path, int] = {}
        self.raw: dict[Path, str] = {}
        self.problems: list[Diagnostic] = []
        self.reported: set[Diagnostic] = set()
        self.failed: set[Path] = set()
        self.partial: set[Path] = set()
        self.budget = budget
        self.exceeded = False
        self.too_deep = False
        self.active: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def _fail(self, line: int, message: str, at: Path | None = None) -> None:
        problem = Diagnostic(self.name, line, message)
        if problem not in self.reported:
            self.reported.add(problem)
            self.problems.append(problem)
        if at is not None:
            self.failed.add(at)

    def convert(self, node: yaml.Node, at: Path, alias: int = 0) -> Any:
        """`alias`: the line of the alias this node was reached through, 0 outside aliases."""
        alias = alias or self.aliases.get(id(node), 0)
        line = alias or node.start_mark.line + 1
        if alias:  # only what aliases add counts: a long plain list is no bomb
            self.budget.left -= 1
            if self.budget.left < 0:
                self.exceeded = True
                if not self.budget.reported:
                    self.budget.reported = True
                    self._fail(line, f"aliases expand to more than {MAX_NODES} values (an alias bomb?)")
                return None
        if isinstance(node, yaml.CollectionNode) and id(node.value) in self.active:
            self._fail(line, "recursive alias: a value contains itself", at)
            return None
        if len(at) > MAX_DEPTH:  # aliases (or the fast composer, which has no limit) nest deeper
            self.too_deep = True
            self._fail(line, f"nested more than {MAX_DEPTH} levels deep", at)
            return None
        self.lines.setdefault(at, line)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, at, alias)
        if isinstance(node, yaml.SequenceNode):
            self.active.add(id(node.value))
            items = [self.convert(child, (*at, i), alias) for i, child in enumerate(node.value)]
            self.active.discard(id(node.value))
            return items
        self.raw[at] = str(node.value)
        try:
            return self.scalars.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            if self.secret(at):
                self._fail(line, f"invalid value for the tag {tag} (quote the value)", at)
            elif isinstance(exc, yaml.MarkedYAMLError):
                self._fail(line, f"invalid value: {exc.problem}", at)
            else:
                value = node.value if len(node.value) <= 40 else node.value[:40] + "..."
                self._fail(line, f"invalid value {value!r} for the tag {tag}", at)
        return None

    def _mapping(self, node: yaml.MappingNode, at: Path, alias: int) -> dict[str, Any]:
        self.active.add(id(node.value))
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = alias or key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._fail(line, "merge keys ('<<') are not supported; repeat the keys")
                self.partial.add(at)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or not key_node.tag.endswith(":str"):
                got = repr(key_node.value) if isinstance(key_node, yaml.ScalarNode) else _node_kind(key_node)
                self._fail(line, f"keys must be strings, got {got}")
                continue
            key = str(key_node.value)
            if key in seen:
                self._fail(line, f"duplicate key {key!r} (first at line {seen[key]})")
                continue
            seen[key] = key_node.start_mark.line + 1
            self.lines[(*at, key)] = line
            result[key] = self.convert(value_node, (*at, key), alias)
        self.active.discard(id(node.value))
        return result


def _node_kind(node: yaml.Node) -> str:
    return "a mapping" if isinstance(node, yaml.MappingNode) else "a list"


def line_for(loc: Path, lines: dict[Path, int]) -> int:
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def dotted(loc: Path) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


_TYPE_NAMES = {
    bool: "a boolean",
    int: "a number",
    float: "a decimal number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing (null)",
    datetime.date: "a date",
    datetime.datetime: "a date and time",
    bytes: "binary data",
}
_QUOTABLE = ("a number", "a decimal number", "a boolean", "a date", "a date and time")


def _quote_hint(got: str, secret: bool, raw: str | None) -> str:
    if got not in _QUOTABLE:
        return ""
    if secret:
        return " (quote the value)"  # not "quote it: '8200'": env values are secrets
    return f" (quote it: '{raw}')" if raw is not None else ""


def friendly(err: Any, raw: str | None, vocabulary: list[str], secret: bool = False) -> str:
    """A pydantic error as a message. `raw`: the value's text as written (None: not to be shown);
    `vocabulary`: the keys allowed where an unknown key was found; `secret`: the value is a secret."""
    kind = err["type"]
    got = _TYPE_NAMES.get(type(err.get("input")), type(err.get("input")).__name__)
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        close = difflib.get_close_matches(key, vocabulary, n=1)
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "string_type":
        return f"expected a string, got {got}{_quote_hint(got, secret, raw)}"
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
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {err['ctx']['max_length']} characters long"
    if kind == "greater_than_equal":
        return f"must be >= {err['ctx']['ge']}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    return str(err["msg"])
