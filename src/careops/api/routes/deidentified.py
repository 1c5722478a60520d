"""De-identified tables for analysts: pseudonymous ids, age bands, shifted or truncated dates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from careops.api.deps import require
from careops.api.pages import Page, PageParams, page_params
from careops.privacy import service
from careops.service import Ops

router = APIRouter(prefix="/deidentified", tags=["privacy"])


@router.get(
    "/{table}",
    summary="去标识化数据 / a de-identified table, page by page",
    responses={
        403: {"description": "无权限, 或该表不可导出 / not allowed, or a table never exported"},
        404: {"description": "无此表 / no such table"},
        422: {"description": "未配置假名密钥等 / no pseudonym key configured, bad paging"},
    },
)
def deidentified_table(
    ops: Annotated[Ops, Depends(require("data.deidentified"))],
    page: Annotated[PageParams, Depends(page_params)],
    table: Annotated[
        str,
        Path(
            pattern=r"^[a-z_]{1,40}$",
            description="规范表名 / canonical table name (patients, events, …)",
        ),
    ],
) -> Page[dict[str, Any]]:
    """Rows of a canonical table with keyed-hash pseudonyms instead of ids, age bands instead
    of birth dates, dates shifted per patient (or truncated to the month), no free text; in the
    table's key order. Contacts and ingestion extras are never served."""
    got = service.deidentified_page(ops, table, page.limit, page.offset)
    return Page[dict[str, Any]](
        items=got.rows, total=got.total, limit=page.limit, offset=page.offset
    )
