"""The commands, one per module, each with a `run(...)` that returns the exit code.

`reconciler/cli.py` parses the command line (typer) and imports only the command it runs, so a
command pays for the modules it uses. Every command's errors become messages and exit codes in one
place (`console.guarded`). Exit codes: 0 ok; 1 error; 2 changes or drift (`plan
--detailed-exitcode`, `drift`, failing `check`); 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).

    console.py       stdout/stderr, colours, the job summary, error -> message and exit code
    validate.py      manifests only, offline           schema.py       the manifest JSON Schema
    plan.py          the pipeline, rendered; --out     drift.py        the plan seen as drift
    apply.py         plan (or a saved plan), confirm, apply under the lock
    export.py        the live catalog as manifests     force_unlock.py remove a stale lock
    check.py         the Nomad CSI checks, optionally waiting for them to pass
    version.py       the version (also answered by reconciler/__main__.py without any import)
"""
