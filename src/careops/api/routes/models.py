"""Predictive models (预测模型): the registered models and the churn scores of patients, for the
cockpit and the hospital's apps (`careops.models.churn.service`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.api.pages import Page, PageParams, page_params
from careops.api.params import AsOf
from careops.models.churn import service
from careops.privacy.access import sees_patient_ids
from careops.service import Ops

router = APIRouter(
    prefix="/models",
    tags=["models"],
    responses={**AUTH_ERRORS, 404: {"description": "没有该模型 / no such model"}},
)

Reader = Annotated[Ops, Depends(require("models.read"))]
ModelId = Annotated[
    str,
    Path(
        pattern=r"^[a-z_]{1,32}-[0-9A-Za-z_-]{1,80}$",
        description="模型编号 / model id (careops models list)",
    ),
]


class ModelOut(BaseModel):
    """A registered model: what it predicts, as of when, from which data, how it scored."""

    kind: str
    model_id: str
    as_of: dt.date
    trained_at: str
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    libraries: dict[str, str]
    evaluation: dict[str, Any]
    notes: list[str]


class ChurnScore(BaseModel):
    """One patient's churn score (0–100) and the top reasons, in Chinese."""

    user_id: str
    churn_score: int
    churn_probability: float
    reasons: str


class ChurnPage(Page[ChurnScore]):
    """Patients by churn score, highest first, with the model that scored them."""

    as_of: dt.date
    model_id: str
    bands: dict[str, int] = Field(description="高/中/低风险人数 / patients per risk band")
    ids_withheld: bool = Field(
        False,
        description="调用者不能逐个查看任意患者, 只给人数 / the caller may not look at any "
        "patient one by one (analysts, department or care-list roles): counts only, no rows",
    )


class PhraseOut(BaseModel):
    text: str = Field(description="原因(中文) / the reason phrase")
    patients: int


class DriverBreakdownOut(BaseModel):
    """Patients per churn driver (`careops.models.churn.drivers.DRIVERS`)."""

    patients: int
    counts: dict[str, int] = Field(description="每个主因的人数 / patients per driver")
    mean_weight: dict[str, float] = Field(
        description="每个主因平均增加的对数几率 / mean log-odds each driver adds"
    )
    phrases: list[PhraseOut] = Field(description="最常见的原因 / the most frequent reasons")
    mean_score: float | None


class ChurnReasonsOut(BaseModel):
    """Why patients are at risk, and why those who left went quiet (counts only)."""

    as_of: dt.date
    model_id: str
    min_score: int
    at_risk: DriverBreakdownOut
    churned: DriverBreakdownOut | None
    churned_window: list[dt.date] | None = Field(
        description="流失者最后活跃日的区间 [起, 止) / their last active days"
    )
    notes: list[str]


class ReasonItemOut(BaseModel):
    feature: str
    driver: str
    contribution: float = Field(description="增加的对数几率 / log-odds added")
    value: float | str | None
    text: str | None


class PatientReasonsOut(BaseModel):
    """One patient's churn score, driver and the features that raise the risk most (the
    contributions and the bias add up to `margin`, the model's raw score)."""

    user_id: str
    as_of: dt.date
    model_id: str
    churn_score: int
    churn_probability: float
    driver: str
    bias: float
    margin: float
    reasons: list[str]
    items: list[ReasonItemOut]
    driver_weights: dict[str, float]


def _out(meta: Any) -> ModelOut:
    d = meta.to_dict()
    d.pop("format_version", None)
    return ModelOut(**d)


@router.get("", summary="已注册模型 / the registered models")
def list_models(
    ops: Reader,
    kind: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,32}$", description="模型种类 / e.g. churn")
    ] = None,
) -> list[ModelOut]:
    """Every readable model, the newest as-of date first."""
    return [_out(m) for m in service.list_models(ops, kind)]


@router.get("/churn/scores", summary="流失风险评分 / churn scores as of a date")
def churn_scores(
    ops: Reader,
    as_of: AsOf,
    page: Annotated[PageParams, Depends(page_params)],
    min_score: Annotated[int, Query(ge=0, le=100, description="最低分 / lowest score")] = 0,
    model_id: Annotated[
        str | None,
        Query(pattern=r"^churn-[0-9A-Za-z_-]{1,80}$", description="默认: 截至该日最新模型"),
    ] = None,
) -> ChurnPage:
    """Patients still users as of `as_of`, scored by the newest churn model trained as of that
    day (or `model_id`), highest score first; a model trained later is refused (422). Only
    callers who may look at any patient get the rows (ids); the others get total and bands."""
    result = service.score(ops, as_of, model_id=model_id)
    table = result.table
    bands = result.summary()["bands"]
    if min_score:
        table = table.filter(pc.greater_equal(table["churn_score"], min_score))
    table = table.take(
        pc.sort_indices(table, [("churn_score", "descending"), ("user_id", "ascending")])
    )
    shown = sees_patient_ids(ops.actor, "patients.portrait")
    rows = table.slice(page.offset, page.limit).to_pylist() if shown else []
    ops.audit(
        "churn.score.read",
        "patients",
        {"as_of": as_of.isoformat(), "model_id": result.model_id, "rows": len(rows)},
    )
    return ChurnPage(
        items=[ChurnScore(**r) for r in rows],
        total=table.num_rows,
        limit=page.limit,
        offset=page.offset,
        as_of=as_of,
        model_id=result.model_id,
        bands=bands,
        ids_withheld=not shown,
    )


ChurnModelId = Annotated[
    str | None,
    Query(pattern=r"^churn-[0-9A-Za-z_-]{1,80}$", description="默认: 截至该日最新模型"),
]


@router.get("/churn/reasons", summary="流失原因诊断 / churn drivers of a population")
def churn_reasons(
    ops: Reader,
    as_of: AsOf,
    min_score: Annotated[int, Query(ge=0, le=100, description="高风险最低分 / at risk from")] = 50,
    weeks: Annotated[int, Query(ge=1, le=26, description="诊断几周的流失者 / weeks")] = 4,
    model_id: ChurnModelId = None,
) -> ChurnReasonsOut:
    """Drivers of the patients scored `min_score` or more as of `as_of`, and of those who went
    quiet in the `weeks` weeks ending `churn_confirm_days` before it (counts, no patient ids)."""
    r = service.reasons_report(ops, as_of, model_id=model_id, min_score=min_score, weeks=weeks)
    d = r.to_dict()
    d.pop("truth", None)
    return ChurnReasonsOut(**d)


@router.get(
    "/churn/reasons/{user_id}",
    summary="单个患者的流失原因 / one patient's churn reasons",
    responses={403: {"description": "无权查看该患者 / not allowed (also for unknown ids)"}},
)
def churn_patient_reasons(
    ops: Annotated[Ops, Depends(require("patients.portrait"))],
    user_id: Annotated[
        str, Path(min_length=1, max_length=128, description="患者 ID / the patient's user_id")
    ],
    as_of: AsOf,
    model_id: ChurnModelId = None,
) -> PatientReasonsOut:
    """The patient's score, driver and largest contributions as of `as_of`: needs
    `patients.portrait` for that patient (object-level scope) and `models.read`; audited."""
    return PatientReasonsOut(
        **service.patient_reasons(ops, as_of, user_id, model_id=model_id).to_dict()
    )


@router.get("/{model_id}", summary="一个模型 / one model with its evaluation")
def show_model(ops: Reader, model_id: ModelId) -> ModelOut:
    """A registered model's card: as-of date, data fingerprint, settings, libraries,
    evaluation."""
    return _out(service.show_model(ops, model_id))
