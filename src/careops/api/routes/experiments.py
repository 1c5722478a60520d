"""Experiments (A/B 实验): create, list, get, stop and analyse stored experiments.

The body of a new experiment is the definition's own record (`ExperimentCreate`): the same
checks and messages as the CLI's YAML file, unknown fields refused (mass assignment: nobody
sets who created it or when). What is shown is `ExperimentPublic`: never the creating account.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from careops.api.deps import require
from careops.api.encode import finite
from careops.api.params import Lang
from careops.experiments import service
from careops.experiments.records import ExperimentCreate, ExperimentPublic
from careops.experiments.stats.settings import Correction
from careops.service import Ops

router = APIRouter(prefix="/experiments", tags=["experiments"])

Key = Annotated[str, Path(min_length=1, max_length=64, description="实验代码 / experiment key")]


class CreatedOut(BaseModel):
    """A created experiment, how its segment was read, and warnings."""

    experiment: ExperimentPublic
    segment_kind: Literal["saved", "rule"] | None = Field(
        description="目标人群: 已保存人群/规则/全部(空) / saved segment, rule, or everyone (null)"
    )
    warnings: list[str] = Field(
        description="提示, 如 window_over: 结束时间已过 / e.g. window_over: its end is past"
    )


@router.get("", summary="实验列表 / experiments")
def list_experiments(
    ops: Annotated[Ops, Depends(require("experiments.read"))],
) -> list[ExperimentPublic]:
    """Every stored experiment, by key, with its status now."""
    return service.list_experiments(ops)


@router.post("", status_code=201, summary="新建实验 / create an experiment")
def create(
    ops: Annotated[Ops, Depends(require("experiments.write"))], body: ExperimentCreate
) -> CreatedOut:
    """Store a new experiment (metrics from the registry, segment saved or a valid rule, key
    new); audited."""
    created = service.create(ops, body)
    return CreatedOut(
        experiment=created.experiment,
        segment_kind=created.segment_kind,
        warnings=list(created.warnings),
    )


@router.get("/{key}", summary="查看实验 / an experiment")
def get(ops: Annotated[Ops, Depends(require("experiments.read"))], key: Key) -> ExperimentPublic:
    """A stored experiment with its status now (404 lists the known keys)."""
    return service.get(ops, key).public()


@router.post("/{key}/stop", summary="停止实验 / stop an experiment now")
def stop(ops: Annotated[Ops, Depends(require("experiments.write"))], key: Key) -> ExperimentPublic:
    """End a running experiment now (its end becomes now); audited."""
    return service.stop(ops, key)


@router.get("/{key}/analysis", summary="分析实验 / analyse an experiment")
def analyse(
    ops: Annotated[Ops, Depends(require("experiments.read"))],
    key: Key,
    lang: Lang,
    as_of: Annotated[
        date | None, Query(description="统计日, 默认今天 / as-of date, default today")
    ] = None,
    metrics: Annotated[
        list[Annotated[str, Field(max_length=64)]] | None,
        Query(max_length=20, description="指标(默认主要+护栏指标) / metrics (default: its own)"),
    ] = None,
    cuped: Annotated[bool, Query(description="CUPED 方差缩减 / CUPED variance reduction")] = False,
    correction: Annotated[
        Correction, Query(description="多重比较校正 / multiple-comparison correction")
    ] = "holm",
) -> dict[str, Any]:
    """The experiment's analysis over its exposures: per metric and variant the effect,
    confidence interval, p-value, Bayesian chance to beat control and the SRM check."""
    outcome = service.analyze_stored(
        ops, key, metrics, as_of=as_of, cuped=cuped, correction=correction, lang=lang
    )
    return finite(outcome.to_dict(lang))
