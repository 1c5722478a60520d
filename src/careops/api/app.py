"""The FastAPI application: `create_app(settings)` wires the routes, errors and middleware.

The app keeps one state-store engine (migrated once at start) for every request; each request
gets its own `Ops` (who asks, from which address, with which request id), and each route calls
one domain service function.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from careops import __version__
from careops.api import problems
from careops.api.deps import known_query_only
from careops.api.middleware import BodyLimit, HeadAsGet, RequestId
from careops.config import Settings, get_settings
from careops.identity.throttle import LoginThrottle
from careops.service import state_url_for

API_PREFIX = "/api/v1"

DESCRIPTION = """CareOps 互联网医院运营平台 API / the CareOps operations API.

登录: `POST /api/v1/auth/token`, 然后在请求头中携带 `Authorization: Bearer <token>`。
错误统一为 `{"error": {"code", "message", "detail", "request_id"}}`, `message` 随
`Accept-Language` 为中文(默认)或英文。Log in, then send the token as a bearer credential;
errors share one shape, their message in Chinese unless `Accept-Language` asks for English.
"""


def create_app(
    settings: Settings | None = None,
    warehouse: str | None = None,
    state: str | None = None,
    *,
    worker: bool = False,
) -> FastAPI:
    """The service over the warehouse `warehouse` (default: the settings'). While it runs it
    owns an embedded warehouse (`careops.warehouse.connect.own`) and runs its jobs: always the
    intake flusher where events go through a journal, with `worker` the scheduled jobs too."""
    from careops.state.store import connect_state, migrate

    settings = settings or get_settings()
    warehouse_url = warehouse or settings.warehouse
    state_url = state or state_url_for(warehouse_url, settings)
    _check_data_files(settings)
    engine = connect_state(state_url)
    migrate(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from careops.worker.service import start_worker, stop_worker

        app.state.worker = start_worker(settings, warehouse_url, state_url, engine, worker)
        try:
            yield
        finally:
            from careops.intake.service import stop_intake

            stop_intake(warehouse_url, settings)  # answer what is queued, then flush
            stop_worker(app.state.worker)
            engine.dispose()

    app = FastAPI(
        title="CareOps API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # served offline by `_docs_page`: no CDN in a hospital network
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.warehouse_url = warehouse_url
    app.state.state_url = state_url
    app.state.state_engine = engine
    app.state.login_throttle = LoginThrottle(
        engine, settings.api.login_failures_per_ip, settings.api.login_window_s
    )

    problems.install(app)
    app.add_middleware(BodyLimit, limit=settings.api.max_body_bytes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestId)  # outermost: even a 413 carries the request id

    v1 = APIRouter(prefix=API_PREFIX)
    strict = [Depends(known_query_only)]
    for module in route_modules():
        if getattr(module, "UNVERSIONED", False):
            app.include_router(module.router, dependencies=strict)
        else:
            v1.include_router(module.router, dependencies=strict)
    app.include_router(v1)
    _document_errors(app)
    _docs_page(app)
    return app


def _check_data_files(settings: Settings) -> None:
    """Refuse to start on a bad data file named by the settings (the hospital's alert rules):
    a `ConfigError` naming the file, line and field, before any request finds out."""
    from careops.care.alerts import rules_for

    rules_for(settings, strict=True)


def _docs_page(app: FastAPI) -> None:
    """Swagger UI at /docs from files installed with CareOps (fastapi-offline's copy of the
    swagger-ui distribution), so the page works in a hospital network without the internet."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_STATIC, StaticFiles(directory=static), name="docs-static")

    async def docs(request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="CareOps API 文档 / reference",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
        )

    app.add_route("/docs", docs, include_in_schema=False)  # like FastAPI's own docs_url


DOCS_STATIC = "/docs-static"


def _document_errors(app: FastAPI) -> None:
    """Publish the errors every route may answer (`problems.document_errors`) in the schema."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = problems.document_errors(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def route_modules() -> list:
    """Every module of `careops.api.routes` that has a `router`, in name order (a capability
    adds its routes by adding a module; nothing else to register)."""
    import careops.api.routes as package

    modules = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "router"):
            modules.append(module)
    return modules
