"""One patient: the portrait (tags, layers, masked contacts) and clinical records by kind.

Object-level checks are the domain's (`careops.privacy.access`): a doctor sees the records of
patients seen in their own department, a health manager those assigned to them, operations the
masked portrait of anyone and no clinical record; unknown and out-of-scope ids get the same 403.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Union

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, create_model

from careops import labels
from careops.api.deps import require
from careops.api.pages import PageParams, page_params
from careops.api.params import AsOf, Lang
from careops.patients import service
from careops.patients.records import KINDS, RecordKind, record_columns
from careops.privacy.access import MAX_USER_ID
from careops.schema import TABLES
from careops.service import Ops

router = APIRouter(prefix="/patients", tags=["patients"])

UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_USER_ID,
        description="患者 ID / the patient's user_id",
        examples=["u000123"],
    ),
]
FORBIDDEN = {
    403: {
        "description": "无权查看该患者(不存在的患者同样回答) / not allowed (also for unknown ids)"
    }
}


class Layer(BaseModel):
    """The patient's layer in one dimension: codes, and labels in the caller's language."""

    dimension: str = Field(description="分层维度代码 / dimension code, e.g. lifecycle")
    dimension_label: str = Field(description="维度名称 / dimension label")
    code: str | None = Field(description="分层代码 / layer code, e.g. silent")
    label: str = Field(description="分层名称 / layer label, e.g. 沉默用户")


class Group(BaseModel):
    """A special group the patient belongs to (chronic, elderly, frequent consulter, …)."""

    code: str = Field(description="人群代码 / group code")
    label: str = Field(description="人群名称 / group label")


class MaskedContacts(BaseModel):
    """Direct identifiers, masked (138****5678, 张*); the plain values are never shown here."""

    name: str | None = Field(None, description="姓名(脱敏) / name, masked")
    phone: str | None = Field(None, description="手机(脱敏) / mobile, masked")
    email: str | None = Field(None, description="邮箱(脱敏) / e-mail, masked")
    wechat_openid: str | None = Field(None, description="微信 openid(脱敏) / masked")
    id_number: str | None = Field(None, description="身份证号(脱敏) / resident id, masked")


class PortraitOut(BaseModel):
    """A patient's portrait as of a date."""

    user_id: str
    as_of: date = Field(description="统计日 / as-of date (facts before 00:00 hospital time)")
    summary: str = Field(description="一句话画像 / one-line portrait")
    layers: list[Layer] = Field(description="四个分层维度 / the four layer dimensions")
    groups: list[Group] = Field(description="所属特殊人群 / special groups")
    tags: dict[str, Any] = Field(description="全部标签(代码) / every tag, as codes and values")
    contacts: MaskedContacts | None = Field(
        description="联系方式(脱敏), 无则为空 / masked contacts, null when none are stored"
    )


_PY = {"string": str, "json": str, "timestamp": datetime, "date": date}
_PY |= {"float64": float, "int64": int}


def _record_model(kind: RecordKind) -> type[BaseModel]:
    """The record shape of `kind`, from the canonical table (one definition of the columns)."""
    table = TABLES[kind]
    cols = {c.name: c for c in table.columns}
    fields: dict[str, Any] = {
        name: (
            _PY[cols[name].type] | None,
            Field(None, description=" / ".join(filter(None, (cols[name].label_zh, name)))),
        )
        for name in record_columns(kind)
    }
    title = kind[:-1].capitalize() + "Record"
    return create_model(
        title,
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"{table.label_zh} / one row of {kind}",
        **fields,
    )


RECORD_MODELS: dict[str, type[BaseModel]] = {k: _record_model(k) for k in KINDS}
AnyRecord = Union[tuple(RECORD_MODELS.values())]  # type: ignore[valid-type]  # noqa: UP007


class RecordsOut(BaseModel):
    """One page of a patient's records of one kind, newest first."""

    user_id: str
    kind: RecordKind
    items: list[AnyRecord]  # type: ignore[valid-type]
    total: int = Field(description="符合条件的总数 / records matching in all")
    limit: int
    offset: int


@router.get(
    "/{user_id}",
    summary="患者画像: 标签、分层、脱敏联系方式 / a patient's portrait",
    responses=FORBIDDEN | {404: {"description": "没有该患者 / no such patient"}},
)
def get_portrait(
    ops: Annotated[Ops, Depends(require("patients.portrait"))],
    user_id: UserId,
    as_of: AsOf,
    lang: Lang,
) -> PortraitOut:
    """Tags and layers of one patient as of a date, with contacts masked; audited."""
    from careops.tags.layers_report import DIMENSIONS
    from careops.tags.portrait import summary

    p = service.portrait(ops, user_id, as_of)
    return PortraitOut(
        user_id=p.user_id,
        as_of=p.as_of,
        summary=summary(p.tags, lang),
        layers=[
            Layer(
                dimension=d,
                dimension_label=labels.layer_label(d, lang),
                code=p.layers.get(d),
                label=labels.value_label(d, p.layers.get(d), lang),
            )
            for d in DIMENSIONS
        ],
        groups=[Group(code=g, label=labels.tag_label(g, lang)) for g in p.groups],
        tags=p.tags,
        contacts=MaskedContacts(**p.contacts) if p.contacts else None,
    )


@router.get(
    "/{user_id}/records/{kind}",
    summary="患者临床记录(按类型, 最新在前) / a patient's clinical records by kind",
    responses=FORBIDDEN,
)
def get_records(
    ops: Annotated[Ops, Depends(require("patients.clinical"))],
    user_id: UserId,
    kind: Annotated[RecordKind, Path(description="记录类型 / record kind")],
    page: Annotated[PageParams, Depends(page_params)],
    since: Annotated[
        date | None, Query(description="自该日起(含, 医院时区) / from this day, inclusive")
    ] = None,
    until: Annotated[
        date | None, Query(description="至该日止(含, 医院时区) / through this day, inclusive")
    ] = None,
) -> RecordsOut:
    """Consultations, observations, conditions, prescriptions or encounters of one patient,
    newest first; only for patients in the caller's scope; audited with the row count."""
    r = service.records(
        ops, user_id, kind, since=since, until=until, limit=page.limit, offset=page.offset
    )
    model = RECORD_MODELS[kind]
    return RecordsOut(
        user_id=r.user_id,
        kind=r.kind,
        items=[model(**row) for row in r.items],
        total=r.total,
        limit=r.limit,
        offset=r.offset,
    )
