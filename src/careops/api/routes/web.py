"""The operations cockpit (运营驾驶舱): server-rendered pages under `/cockpit`, same origin as
the API, outside its OpenAPI (`careops.web`). `/` leads to the cockpit."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse

from careops.web.pages import router as cockpit_router
from careops.web.session import PREFIX

UNVERSIONED = True  # pages sit at the root, beside /healthz, not under /api/v1
router = APIRouter(include_in_schema=False)
router.mount(PREFIX, app=cockpit_router(), name="cockpit")


def _home(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


def _favicon(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/static/favicon.svg", status_code=301)


router.add_route("/", _home, methods=["GET"], include_in_schema=False)
router.add_route("/favicon.ico", _favicon, methods=["GET"], include_in_schema=False)
