"""Approval before `apply` writes a fresh plan, as `terraform apply` asks for it.

On a terminal the user is asked and only `yes` goes on. Without one nobody can answer, so apply
refuses unless the approval is explicit: `--auto-approve`, or a saved plan file (made and reviewed
earlier: applying it is the approval). A plan with nothing to do needs no approval.
"""

from __future__ import annotations

from typing import TextIO

from reconciler.errors import UsageError

CANCELLED = "Apply cancelled."

_HOW = "pass --auto-approve, or save a plan with `reconcile plan --out FILE` and apply it with `reconcile apply FILE`"


def prompt(changes: int, target: str) -> str:
    """The question, naming how many changes and where (`target` must be a display address)."""
    noun = "change" if changes == 1 else "changes"
    return f"Apply {changes} {noun} to {target}? Only 'yes' will be accepted: "


def approved(
    changes: int,
    target: str,
    *,
    auto_approve: bool,
    saved_plan: bool,
    interactive: bool,
    stdin: TextIO,
    stdout: TextIO,
) -> bool:
    """Whether apply may write. Asks on a terminal; raises UsageError where nobody can be asked.

    `interactive` is False when the output must stay machine-readable (`--format json`): a prompt
    would corrupt it, so an explicit approval is needed there too.
    """
    if changes == 0 or auto_approve or saved_plan:
        return True
    if not interactive:
        raise UsageError("apply --format json cannot ask for confirmation; nothing was applied", hint=_HOW)
    if not stdin.isatty():
        raise UsageError(
            "apply needs approval, and standard input is not a terminal to ask on; nothing was applied", hint=_HOW
        )
    stdout.write("\n" + prompt(changes, target))
    stdout.flush()
    answer = stdin.readline()
    if not answer.endswith("\n"):
        stdout.write("\n")  # end of input: keep the next line off the prompt's
    return answer.strip() == "yes"
