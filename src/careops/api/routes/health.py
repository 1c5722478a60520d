"""Liveness and readiness, for the hospital's load balancer and orchestration."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

UNVERSIONED = True  # /healthz and /readyz sit at the root, outside /api/v1
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="存活检查 / liveness")
def healthz() -> dict:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/readyz", summary="就绪检查 / readiness: the state store answers")
def readyz(request: Request) -> JSONResponse:
    """Ready when the state store (accounts, audit) answers a query."""
    try:
        with request.app.state.state_engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "state_store": "down"}, status_code=503)
    return JSONResponse({"status": "ready", "state_store": "ok"})
