"""The API's error answers: a 422 naming each broken field and its rule, never its value (the
value is personal data), and the reading of a JSON body that finds every problem at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError

from notifier.preferences.validation import FieldError


class FieldProblem(BaseModel):
    field: str
    loc: list[str | int]
    type: str = Field(description="The rule broken, e.g. invalid-email, not-a-uk-mobile")
    msg: str


class Unprocessable(BaseModel):
    """The body of a 422: every problem found."""

    detail: list[FieldProblem]


def unprocessable(problems: list[FieldProblem]) -> JSONResponse:
    return JSONResponse({"detail": [p.model_dump() for p in problems]}, status_code=422)


def problem(error: FieldError, where: str = "body") -> FieldProblem:
    return FieldProblem(
        field=error.field, loc=[where, error.field], type=error.rule, msg=error.message
    )


def pydantic_problem(error: Mapping[str, Any]) -> FieldProblem:
    """One of pydantic's errors, its ``loc`` starting with where (``body``, ``query``), without
    the ``input`` it would echo."""
    loc = list(error["loc"])
    named = ".".join(str(part) for part in loc[1:])
    return FieldProblem(
        field="body" if error["type"] == "json_invalid" else named or str(loc[0]),
        loc=loc,
        type=str(error["type"]),
        msg=str(error["msg"]),
    )


def _json_invalid(position: int, msg: str) -> FieldProblem:
    return FieldProblem(field="body", loc=["body", position], type="json_invalid", msg=msg)


async def read_json(request: Request) -> tuple[object, list[FieldProblem]]:
    """The request's body as JSON, or why it is not: JSON between systems is UTF-8 (RFC 8259
    §8.1, which lets a byte order mark be ignored), sent as ``application/json``."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media != "application/json" and not media.endswith("+json"):
        return None, [_json_invalid(0, "The body must be JSON (Content-Type: application/json)")]
    raw = await request.body()
    if not raw:
        return None, [_json_invalid(0, "The body must be a JSON object")]
    try:
        return json.loads(raw.decode("utf-8-sig")), []
    except UnicodeDecodeError as exc:
        return None, [_json_invalid(exc.start, "JSON decode error: the body is not UTF-8")]
    except json.JSONDecodeError as exc:
        return None, [_json_invalid(exc.pos, "JSON decode error")]


def fields_of(model: type[BaseModel], data: object) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The fields of ``data`` that ``model`` accepts, as given, and a problem for each one it
    refuses, unknown fields included: all of them, so none hides another. ``model`` checks each
    field on its own (no model validators), so what is left without an error validates."""
    try:
        return model.model_validate(data).model_dump(exclude_unset=True), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
    problems = [pydantic_problem({**e, "loc": ("body", *e["loc"])}) for e in errors]
    if not isinstance(data, dict):
        return {}, problems
    broken = {e["loc"][0] for e in errors if e["loc"]}
    fine = {name: value for name, value in data.items() if name not in broken}
    return model.model_validate(fine).model_dump(exclude_unset=True), problems


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing ``model`` as the JSON body of a route that reads its own.
    Nested models are written in place: inside an operation, ``#/$defs/...`` would point at the
    top of the OpenAPI document."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: object) -> object:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    content = {"application/json": {"schema": inline(schema)}}
    return {"requestBody": {"required": True, "content": content}}


class Detail(BaseModel):
    """The body of a 401 or 404."""

    detail: str = Field(examples=["Not Found"])


class ProblemRoute(APIRoute):
    """FastAPI's 422s (query and path parameters), reshaped to name each field and dropping the
    ``input`` they echo."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return unprocessable([pydantic_problem(err) for err in exc.errors()])

        return route
