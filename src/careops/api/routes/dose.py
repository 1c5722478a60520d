"""The paediatric dosage check (儿童剂量核对) for prescribing doctors and the hospital's HIS:
is this order within the limits for this child? (`careops.care.dose`)"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.care import dose
from careops.errors import InvalidInput, NotFound
from careops.service import Ops

router = APIRouter(prefix="/dose", tags=["dose"], responses={**AUTH_ERRORS})

Checker = Annotated[Ops, Depends(require("dose.check"))]


class DoseOrder(BaseModel):
    """One paediatric order: the drug, the child, and the dose in the drug's unit (one of
    `dose_mg`, `dose_ml`, `dose_iu`)."""

    model_config = ConfigDict(extra="forbid")
    drug: str = Field(min_length=1, max_length=64, description="药名(中/英/商品名) / drug name")
    age_months: float = Field(ge=0, lt=216, description="月龄 / age in months")
    weight_kg: float = Field(gt=0, le=200, description="体重 kg / weight in kg")
    dose_mg: float | None = Field(default=None, gt=0, le=1e6)
    dose_ml: float | None = Field(default=None, gt=0, le=1e5)
    dose_iu: float | None = Field(default=None, gt=0, le=1e8)
    per_day: int | None = Field(default=None, ge=1, le=24, description="每日次数 / doses a day")


class DoseAnswer(BaseModel):
    """Allowed or blocked, with the reasons naming each limit, and the limits for this child."""

    allowed: bool
    reasons: list[str]
    codes: list[str]
    notes: list[str]
    dose: float
    unit: str
    per_day: int | None
    limits: dict[str, Any]


@router.post("/check", summary="儿童剂量核对 / check a paediatric order")
def check(ops: Checker, order: DoseOrder) -> DoseAnswer:
    """A blocked order answers 200 with `allowed: false` and the reasons; bad input (unknown
    drug — with the closest names —, a weight implausible for the age) answers 422."""
    try:
        dose.resolve(order.drug)
    except NotFound as exc:  # a field of the order, not a missing resource: 422 naming it
        raise InvalidInput(str(exc), field="drug") from exc
    result = dose.check(
        order.drug,
        age_months=order.age_months,
        weight_kg=order.weight_kg,
        dose_mg=order.dose_mg,
        dose_ml=order.dose_ml,
        dose_iu=order.dose_iu,
        per_day=order.per_day,
    )
    ops.audit(
        "dose.check",
        f"drug:{result.limits.drug}",
        {"allowed": result.allowed, "codes": list(result.codes)},
    )
    return DoseAnswer(**result.as_dict())
