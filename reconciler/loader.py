"""Manifest files -> desired State. Every problem in every file is collected and reported at
once as `path:line: message`; nothing downstream runs when there is one.

Each file becomes plain data that remembers its lines (`yamlread.py`, shared with the targets file:
duplicate keys, alias bombs and recursion are refused there), validated by the pydantic schema in
`manifest.py`; its errors are worded by `manifest_messages.py`.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from reconciler import manifest
from reconciler.discovery import cannot_read, discover
from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifest import Desired, Document, SourceDocument
from reconciler.manifest_messages import diagnostics, under_env
from reconciler.yamlread import MAX_DEPTH, MAX_NODES, Budget, compose, yaml_message
from reconciler.yamlread import Converter as _Converter

MAX_FILE_BYTES = 5 * 1024 * 1024


Parsed = tuple[list[SourceDocument], list[Diagnostic]]
"""One file's documents and problems."""


def load(path: Path | Sequence[Path], cache: dict[Path, Parsed] | None = None) -> Desired:
    """Load every manifest under `path` (a file, or a folder searched recursively in sorted order;
    see `discovery` for which files are read). Several paths (a target of reconcile.yaml) are one
    union: an object declared under two of them is declared twice.

    `cache`: files already parsed in this run (by resolved path), shared by targets whose manifests
    share files; the documents are immutable, so sharing them is safe."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for one in [path] if isinstance(path, Path) else path:
        found_files, found_problems = discover(one)
        files += found_files
        problems += found_problems
    sources: list[SourceDocument] = []
    for file in files:
        if cache is None:
            found, file_problems = _load_file(file)
        else:
            key = file.resolve()
            if key not in cache:
                cache[key] = _load_file(file)
            found, file_problems = cache[key]
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


def _parse(name: str, text: str, fast: bool = True) -> tuple[list[SourceDocument], list[Diagnostic]]:
    try:
        nodes, aliases = compose(text, fast)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        return [], [Diagnostic(name, line, yaml_message(exc))]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        return [], [Diagnostic(name, line, f"invalid YAML: control character U+{exc.character:04X} is not allowed")]
    except yaml.YAMLError as exc:
        return [], [Diagnostic(name, 0, f"invalid YAML: {exc}")]
    except RecursionError:
        return [], [Diagnostic(name, 0, f"nested more than {MAX_DEPTH} levels deep")]
    sources: list[SourceDocument] = []
    problems: list[Diagnostic] = []
    budget = Budget()  # one per file: many small documents must not add up to a bomb either
    for node in nodes:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            continue
        converter = _Converter(name, aliases, budget, under_env)
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


__all__ = ["MAX_DEPTH", "MAX_NODES", "discover", "load"]
