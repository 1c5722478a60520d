"""One error shape for every answer that is not a success:
`{"error": {"code", "message", "detail", "request_id"}}`.

`message` is a short sentence for people in the caller's language (`Accept-Language`: Chinese by
default, English when asked); `detail` is the specific reason (a string, or a list of
`{"loc", "reason"}` for invalid fields). No traceback or internal text ever leaves the service.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from careops.errors import CareOpsError, TooManyRequests

log = logging.getLogger("careops.api")

#: HTTP status -> (code, 中文, English)
MESSAGES: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "请求格式错误", "The request is malformed."),
    401: ("unauthorized", "未登录或凭证无效", "Not authenticated, or the credentials are invalid."),
    403: ("forbidden", "无权访问", "You are not allowed to do this."),
    404: ("not_found", "未找到", "Not found."),
    405: ("method_not_allowed", "不支持该方法", "Method not allowed."),
    409: ("conflict", "与当前状态冲突", "The request conflicts with the current state."),
    413: ("too_large", "请求过大", "The request is too large."),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported content type."),
    422: ("invalid_input", "输入不合法", "The input is not valid."),
    429: ("too_many_requests", "请求过于频繁", "Too many requests."),
    500: ("internal_error", "服务内部错误", "Internal error."),
    503: ("unavailable", "服务暂不可用", "The service is unavailable; try again shortly."),
}


class FieldProblem(BaseModel):
    """One invalid field: where it is (`["body", "role"]`, `["query", "limit"]`) and why."""

    loc: list[str]
    reason: str


class ErrorBody(BaseModel):
    """What went wrong: a stable `code`, a sentence for people, the specific reason."""

    code: str = Field(description="稳定的错误码 / a stable code, e.g. invalid_input")
    message: str = Field(description="给人看的说明 (按 Accept-Language) / for people")
    detail: str | list[FieldProblem] | None = Field(
        description="具体原因, 或逐字段原因 / the reason, or the invalid fields"
    )
    request_id: str | None = Field(description="请求 ID (同 X-Request-ID) / the request id")


class Problem(BaseModel):
    """The one error shape of every answer that is not a success."""

    error: ErrorBody


def wants_english(request: Request) -> bool:
    """Whether the caller prefers English over Chinese (`Accept-Language`, first match wins)."""
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return False
        if tag.startswith("en"):
            return True
    return False


def problem(
    request: Request, status: int, detail: Any = None, headers: dict | None = None
) -> JSONResponse:
    """The JSON error answer for `status`."""
    code, zh, en = MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400])
    body = {
        "error": {
            "code": code,
            "message": en if wants_english(request) else zh,
            "detail": detail,
            "request_id": getattr(request.state, "request_id", None),
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Answer every error in the one shape."""

    @app.exception_handler(CareOpsError)
    async def _careops(request: Request, exc: CareOpsError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after_s)}
        if exc.status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc)
        return problem(request, exc.status, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": [str(p) for p in e.get("loc", ())], "reason": str(e.get("msg", ""))[:300]}
            for e in exc.errors()[:50]
        ]
        return problem(request, 422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "请求体不是合法 JSON (或嵌套过深) / the body is not valid JSON (or too deep)"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return problem(request, exc.status_code, detail, headers)

    from ibis.common.exceptions import TableNotFound

    @app.exception_handler(TableNotFound)
    async def _no_table(request: Request, exc: TableNotFound) -> JSONResponse:
        # a warehouse file made but never loaded (e.g. opened for writing before any import)
        table = str(exc)[:64]
        log.warning("warehouse table missing: %s", table)
        return problem(
            request,
            503,
            f"仓库中还没有表 {table}, 请先导入数据 / the warehouse has no table {table!r} yet; "
            "load data first (careops init, careops ingest)",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error (request %s)", getattr(request.state, "request_id", "-"))
        return problem(request, 500, None)


#: the error answers the frame itself gives, and when: (status, description, applies to)
GENERIC_ERRORS: tuple[tuple[int, str, str], ...] = (
    (400, "请求体不是合法 JSON / the body is not valid JSON", "body"),
    (401, "未登录或凭证无效 / not authenticated, or a bad token or key", "auth"),
    (403, "无权限 / not allowed for this role or key", "auth"),
    (404, "未找到 (所指的对象不存在) / not found: what the request names does not exist", "named"),
    (413, "请求过大 / the request body is too large", "body"),
    (422, "输入不合法 / invalid input (field and reason in `detail`)", "input"),
    (503, "服务暂不可用, 稍后重试 / unavailable (e.g. the warehouse is busy): retry", "auth"),
)

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def document_errors(spec: dict) -> dict:
    """Add the error answers every operation may give to the OpenAPI document `spec`, each in
    the one error shape (`Problem`): 401/403/503 where a credential is needed, 404 there or
    where the path names an object (a body may name a saved segment or an experiment), 422
    where there is input, 400/413 where there is a body. Responses a
    route documents itself keep their description; FastAPI's own validation-error shape is
    replaced by ours (it is not what the service answers)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({name: s for name, s in _problem_schemas().items() if name not in schemas})
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            params = operation.get("parameters", [])
            has = {
                "auth": bool(operation.get("security")),
                "body": "requestBody" in operation,
                "named": bool(operation.get("security"))
                or any(p.get("in") == "path" for p in params),
                "input": bool(params) or "requestBody" in operation,
            }
            responses = operation["responses"]
            for status, description, when in GENERIC_ERRORS:
                if has[when]:
                    responses.setdefault(str(status), {"description": description})
            if responses.get("422", {}).get("description") == "Validation Error":  # FastAPI's
                responses["422"]["description"] = GENERIC_ERRORS[5][1]
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = {"application/json": {"schema": _PROBLEM_REF}}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def _problem_schemas() -> dict[str, dict]:
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema(
        [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
    )
    return top["$defs"]


def allowed_methods(request: Request) -> str:
    """Every method some route takes at the request's path, for a 405's `Allow` header
    (Starlette names only the first route matching the path, while a path's methods are
    spread over one route each)."""
    import re

    from fastapi.routing import iter_route_contexts
    from starlette.routing import compile_path

    table = getattr(request.app.state, "careops_methods", None)
    if table is None:
        table = []
        for ctx in iter_route_contexts(request.app.routes):
            if ctx.path and ctx.methods:
                table.append((compile_path(ctx.path)[0], frozenset(ctx.methods)))
        request.app.state.careops_methods = table
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for pattern, route_methods in table:
        if isinstance(pattern, re.Pattern) and pattern.match(path):
            methods |= route_methods
    if "GET" in methods:
        methods.add("HEAD")  # answered like GET (`middleware.HeadAsGet`)
    return ", ".join(sorted(methods))
