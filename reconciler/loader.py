"""Manifest files -> desired State. Every problem in every file is collected and reported at
once as `path:line: message`; nothing downstream runs when there is one.

PyYAML composes each document into a node tree first, so every key and list item keeps its line;
the tree is then turned into plain data with guards (duplicate keys, alias bombs, recursion)
and validated by the pydantic schema in `manifest.py`.
"""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler import manifest
from reconciler.discovery import cannot_read, discover
from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifest import Desired, Document, SourceDocument
from reconciler.manifest_messages import diagnostics, under_env

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000
"""How many values aliases (`*name`) may add to one file. Plain nodes are bounded by the file size."""
MAX_DEPTH = 100


def load(path: Path) -> Desired:
    """Load every manifest under `path` (a file, or a folder searched recursively in sorted order;
    see `discovery` for which files are read)."""
    files, problems = discover(path)
    sources: list[SourceDocument] = []
    for file in files:
        found, file_problems = _load_file(file)
        sources.extend(found)
        problems.extend(file_problems)
    # A document with problems is left out; checks that a name is declared somewhere would then
    # report things that are declared (in the bad document), so they wait for a clean run.
    desired, cross = manifest.build_state(sources, complete=not problems)
    problems.extend(cross)
    if problems:
        raise ManifestError(problems)
    return desired


def _load_file(file: Path) -> tuple[list[SourceDocument], list[Diagnostic]]:
    name = str(file)
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            return [], [Diagnostic(name, 0, "cannot read: not a regular file")]
        size = info.st_size
        if size > MAX_FILE_BYTES:
            return [], [Diagnostic(name, 0, f"file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})")]
        data = file.read_bytes()
    except OSError as exc:
        return [], [cannot_read(file, exc)]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [Diagnostic(name, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")]
    return _parse(name, text)


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


def _compose(text: str, fast: bool) -> tuple[list[yaml.Node], dict[int, int]]:
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


def _parse(name: str, text: str, fast: bool = True) -> tuple[list[SourceDocument], list[Diagnostic]]:
    try:
        nodes, aliases = _compose(text, fast)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        return [], [Diagnostic(name, line, _yaml_message(exc))]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        return [], [Diagnostic(name, line, f"invalid YAML: control character U+{exc.character:04X} is not allowed")]
    except yaml.YAMLError as exc:
        return [], [Diagnostic(name, 0, f"invalid YAML: {exc}")]
    except RecursionError:
        return [], [Diagnostic(name, 0, f"nested more than {MAX_DEPTH} levels deep")]
    sources: list[SourceDocument] = []
    problems: list[Diagnostic] = []
    budget = _Budget()  # one per file: many small documents must not add up to a bomb either
    for node in nodes:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            continue
        converter = _Converter(name, aliases, budget)
        data = converter.convert(node, ())
        problems.extend(converter.problems)
        if converter.too_deep and fast:
            return _parse(name, text, fast=False)  # report it as the Python loader does
        if converter.exceeded:
            continue
        if not isinstance(data, dict):
            problems.append(Diagnostic(name, node.start_mark.line + 1, "a manifest document must be a mapping"))
            continue
        try:
            document = Document.model_validate(data)
        except ValidationError as exc:
            problems.extend(diagnostics(name, exc, converter))
            continue
        if converter.problems:
            continue
        sources.append(SourceDocument(name, document, converter.lines))
    return sources, problems


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
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


class _Budget:
    """The values aliases may still add to a file; the excess is reported once."""

    def __init__(self) -> None:
        self.left = MAX_NODES
        self.reported = False


class _Converter:
    """Node tree -> plain data, recording the line of each key and item.

    Inside an alias (`*name`) every line is the alias's own: that is where the value is used.
    Where conversion failed (`failed`) the value is None, and where a mapping lost merged keys
    (`partial`) keys are missing; the schema's complaints about those would only repeat the
    problem already reported, so `diagnostics` drops them.
    """

    def __init__(self, name: str, aliases: dict[int, int], budget: _Budget) -> None:
        self.name = name
        self.aliases = aliases
        self.lines: dict[manifest.Path, int] = {}
        self.raw: dict[manifest.Path, str] = {}
        self.problems: list[Diagnostic] = []
        self.reported: set[Diagnostic] = set()
        self.failed: set[manifest.Path] = set()
        self.partial: set[manifest.Path] = set()
        self.budget = budget
        self.exceeded = False
        self.too_deep = False
        self.active: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def _fail(self, line: int, message: str, at: manifest.Path | None = None) -> None:
        problem = Diagnostic(self.name, line, message)
        if problem not in self.reported:
            self.reported.add(problem)
            self.problems.append(problem)
        if at is not None:
            self.failed.add(at)

    def convert(self, node: yaml.Node, at: manifest.Path, alias: int = 0) -> Any:
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
            if under_env(at):
                self._fail(line, f"invalid value for the tag {tag} (quote the value)", at)
            elif isinstance(exc, yaml.MarkedYAMLError):
                self._fail(line, f"invalid value: {exc.problem}", at)
            else:
                value = node.value if len(node.value) <= 40 else node.value[:40] + "..."
                self._fail(line, f"invalid value {value!r} for the tag {tag}", at)
        return None

    def _mapping(self, node: yaml.MappingNode, at: manifest.Path, alias: int) -> dict[str, Any]:
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


__all__ = ["discover", "load"]
