"""Answers decoded into strict pydantic models: a 2xx answer is trusted only once it validates.

A body that is empty, `null`, `{}`, or has a field of the wrong type is an `UnexpectedResponse`
saying where and what (`data.detailed[0].name: input should be a valid string, got a number`),
never an empty result. Each target declares its models (`reconciler/targets/*/models.py`).
"""

from __future__ import annotations

from typing import NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.errors import UnexpectedResponse
from reconciler.http.client import Response

M = TypeVar("M", bound=BaseModel)
SHOWN_PROBLEMS = 3


def parse(model: type[M], response: Response) -> M:
    """`response`'s body as `model`, or UnexpectedResponse saying what was wrong."""
    if response.body is None and not response.size:
        _fail(response, "the body is empty (expected a JSON object)")
    try:
        return model.model_validate(response.body)
    except ValidationError as exc:
        _fail(response, describe(exc, response.body))


def parse_list(model: type[M], response: Response) -> list[M]:
    """A JSON array of `model`."""
    if not isinstance(response.body, list):
        _fail(response, f"expected a JSON array, got {json_type(response.body)}")
    items = []
    for i, item in enumerate(response.body):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            _fail(response, describe(exc, item, prefix=f"[{i}]"))
    return items


def _fail(response: Response, problem: str) -> NoReturn:
    raise UnexpectedResponse(
        response.server,
        response.method,
        response.path,
        problem,
        hint="something between reconcile and the server (a proxy, a load balancer) may have answered "
        "instead of it, or the address points to another service",
    )


def describe(exc: ValidationError, body: object, prefix: str = "") -> str:
    """The first few validation problems as `where: what` (`data.detailed[0].name: input should be ...`)."""
    problems = []
    for error in exc.errors()[:SHOWN_PROBLEMS]:
        where = (prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])).lstrip(".")
        if error["type"] == "missing":
            what = "missing"
        else:
            what = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {json_type(error.get('input'))}"
        if not error["loc"]:
            what = f"expected a JSON object, got {json_type(body)}"
        problems.append(f"{where}: {what}" if where else what)
    more = exc.error_count() - SHOWN_PROBLEMS
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__
