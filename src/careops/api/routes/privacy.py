"""Patients' rights (PIPL): consent per channel and purpose, erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from careops.api.deps import require
from careops.privacy import consent
from careops.privacy.consent import ConsentChange, ConsentResult, ConsentState
from careops.service import Ops

router = APIRouter(prefix="/patients", tags=["privacy"])

UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00-\x20\x7f]([^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?$",
        description="患者 user_id / the patient",
    ),
]


class ConsentList(BaseModel):
    """The current decision per channel and purpose (channels never decided are absent)."""

    user_id: str
    items: list[ConsentState]


class ErasureOut(BaseModel):
    """Rows removed per table and store; the keyed hash the audit names the patient by."""

    subject_hash: str
    warehouse: dict[str, int]
    state: dict[str, int]
    total: int


@router.post(
    "/{user_id}/consents",
    summary="记录同意或撤回 / record a consent grant or withdrawal",
    responses={404: {"description": "没有这个患者 / no such patient"}},
)
def record_consent(
    user_id: UserId,
    body: ConsentChange,
    ops: Annotated[Ops, Depends(require("consents.write"))],
) -> ConsentResult:
    """Append a grant or withdrawal for one channel and purpose (`all` covers every one);
    repeating the current decision changes nothing (`changed: false`)."""
    return consent.record_consent(ops, user_id, body)


@router.get(
    "/{user_id}/consents",
    summary="当前同意状态 / current consents",
    responses={404: {"description": "没有这个患者 / no such patient"}},
)
def read_consents(
    user_id: UserId, ops: Annotated[Ops, Depends(require("consents.write"))]
) -> ConsentList:
    """The latest decision per channel and purpose."""
    return ConsentList(user_id=user_id, items=consent.read_consents(ops, user_id))


@router.delete(
    "/{user_id}",
    summary="删除患者全部数据 / erase a patient (PIPL)",
    responses={404: {"description": "没有这个患者的数据 / nothing stored for this patient"}},
)
def erase_patient(
    user_id: UserId, ops: Annotated[Ops, Depends(require("privacy.erase"))]
) -> ErasureOut:
    """Remove the patient from every warehouse table and state-store row; the audit keeps an
    entry naming them only by a keyed hash. Cannot be undone."""
    from careops.privacy.erase import erase_patient as erase

    report = erase(ops, user_id)
    return ErasureOut(
        subject_hash=report.subject_hash,
        warehouse=report.warehouse,
        state=report.state,
        total=report.total,
    )
