"""Several clusters from one repository (issue #15): a targets file, `reconcile.yaml`, and one run
over its targets, a layer above the one-target pipeline (`reconciler/pipeline.py`).

    config.py     the targets file: model, offline checks (path:line: message), selection
    environ.py    each target's environment: shared variables < the file < RECONCILE_<TARGET>_*
    run.py        every target concurrently (--target-parallelism), a failure kept as its Part
    part.py       one target's share of a run, and the combined exit code
    plans.py      plan (and its saved file), drift, validate, targets
    applying.py   apply: plan every target, decide once, apply each
    checking.py   check (Nomad CSI) and export (DIR/<target>/)
    saved.py      saved plans of several targets

The combined output (text, json, markdown) is `reconciler/render/fleet.py`.
"""

DEFAULT_FILE = "reconcile.yaml"
"""The targets file looked for in the working directory (`--config` names another). Here, not in
config.py, so that the entry point (reconciler/__main__.py) can look for it without importing pydantic."""
