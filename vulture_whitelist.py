"""Names that vulture (the dead-code check of `bash run test`) cannot see being used.

Never imported or run: vulture only parses it, and a name listed here counts as used everywhere,
so list a name only with the reason it is used. Typer commands, pydantic validators and
`model_config` are ignored by the settings in pyproject.toml ([tool.vulture]).
"""
# ruff: noqa: B018

from types import SimpleNamespace

_ = SimpleNamespace()

# The console entry point (pyproject.toml [project.scripts]).
_.main

# Read by the benchmark (bench/stages.py), which vulture does not scan.
_.STAGES  # pipeline: the names of the stages Hooks.on_stage reports

# Pydantic fields: set by validation from API responses and manifests, read through
# model_dump, model_fields_set or the JSON schema, never as attributes.
_.commit_date  # SealStatus: only OpenBao sends it; tells OpenBao from Vault
_.enterprise  # Health: only Vault sends it
_.oci_runtime  # plugin runtimes (manifest, resource and API models)
_.cgroup_parent
_.cpu_nanos
_.memory_bytes
_.rootless
_.manifests_digest  # saved plan files: validated on read, used from the raw document
_.live_fingerprint
_.format_version

# Overrides whose signature the base class fixes (PyYAML calls it with this keyword).
_.indentless  # export._Dumper.increase_indent

# Enum machinery: a Kind member's value is set in __new__ (kinds/__init__.py), read by Enum itself.
_._value_
