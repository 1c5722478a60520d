"""Service packages (服务包): the catalogue, a patient's enrolments with what is used and left,
the enrolments behind their 90-day activation goal, renewal by activation, delivery SLAs and
health outcomes per package (`careops.care.packages_service`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.api.pages import Page, PageParams, page_params
from careops.api.params import AsOf, Lang, field_error
from careops.api.routes.patients import FORBIDDEN, UserId
from careops.care import packages_service as service
from careops.errors import NotFound
from careops.service import Ops

router = APIRouter(tags=["packages"], responses={**AUTH_ERRORS})

CareReader = Annotated[Ops, Depends(require("care.read"))]
PortraitReader = Annotated[Ops, Depends(require("patients.portrait"))]
MetricsReader = Annotated[Ops, Depends(require("metrics.read"))]
PackageId = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="只看该服务包 / one package only",
    ),
]


class Entitlement(BaseModel):
    """One entitlement of a package: its code, label and how many are included."""

    kind: str = Field(description="权益代码 / entitlement code, e.g. consultation")
    label: str = Field(description="权益名称 / entitlement label")
    included: int = Field(description="包含次数 / uses included")


class PackageOut(BaseModel):
    """A package as sold."""

    package_id: str
    name: str = Field(description="名称(按语言) / name in the caller's language")
    department: str
    price_cny: float = Field(description="标价 / list price")
    launch_price_cny: float | None = Field(description="首发价 / launch price")
    validity_days: int
    tier: str = Field(description="服务等级 vip|standard / SLA tier")
    sla_first_reply_s: float = Field(description="问诊首次回复时限(秒) / first reply limit, s")
    condition: str = Field(description="衡量效果的慢病 bp|glucose|none / outcome measure")
    entitlements: list[Entitlement]


class EntitlementLeft(BaseModel):
    """An entitlement of one enrolment: included, used up to the as-of date, left."""

    kind: str
    label: str
    included: int
    used: int
    left: int


class EnrolmentOut(BaseModel):
    """One of a patient's enrolments and its entitlements."""

    enrollment_id: str
    package_id: str
    package_name: str | None = Field(description="服务包名称 / package name (if catalogued)")
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    status: str | None
    price_cny: float | None
    entitlements: list[EntitlementLeft]


class UsageOut(BaseModel):
    """A patient's enrolments as of a day."""

    user_id: str
    as_of: dt.date
    enrollments: list[EnrolmentOut]


class ActivationOut(BaseModel):
    """An enrolment inside its 90-day activation window and how far it is from the goal."""

    enrollment_id: str
    user_id: str
    package_id: str
    day: int = Field(description="签约后第几天(0 起) / days since start, from 0")
    uses: int = Field(description="窗口内已用次数 / uses so far")
    short: int = Field(description="距目标还差 / uses short of the goal")
    behind_pace: float = Field(description="落后匀速进度的次数(>0 落后) / uses behind pace")
    days_left: int = Field(description="窗口剩余天数 / days left in the window")


class RenewalGroupOut(BaseModel):
    """Ended enrolments of one group, how many were renewed, and the rate."""

    ended: int
    renewed: int
    rate: float | None


class RenewalOut(BaseModel):
    """Renewal among enrolments that reached the activation goal and those that did not."""

    as_of: dt.date
    activated: RenewalGroupOut
    not_activated: RenewalGroupOut
    overall: RenewalGroupOut


class SlaRowOut(BaseModel):
    package_id: str
    tier: str
    limit_s: float
    consultations: int
    breaches: int
    breach_rate: float | None


class SlaBreachOut(BaseModel):
    consultation_id: str
    user_id: str
    package_id: str
    started_at: dt.datetime | None
    first_reply_s: float
    limit_s: float


class SlaOut(BaseModel):
    """SLAs per package and the worst breaches (patients listed only for callers who may see
    patient ids one by one; analysts get the rates and the count)."""

    as_of: dt.date
    days: int
    rows: list[SlaRowOut]
    breaches: list[SlaBreachOut]
    total_breaches: int


class OutcomeOut(BaseModel):
    """A package's control rate before and after enrolment, over the same patients."""

    package_id: str
    measure: str
    patients: int
    controlled_before: int
    controlled_after: int
    rate_before: float | None
    rate_after: float | None


def _label(labels: dict[str, list[str]], kind: str, lang: str) -> str:
    pair = labels.get(kind)
    return (pair[1] if lang == "en" else pair[0]) if pair else kind


@router.get("/packages", summary="服务包目录 / the service-package catalogue")
def list_packages(ops: CareReader, lang: Lang) -> list[PackageOut]:
    """Every package with its entitlements, prices, validity and SLA tier."""
    cat = service.catalogue()
    return [
        PackageOut(
            package_id=pid,
            name=p.name_en if lang == "en" else p.name,
            department=p.department,
            price_cny=p.price_cny,
            launch_price_cny=p.launch_price_cny,
            validity_days=p.validity_days,
            tier=p.tier,
            sla_first_reply_s=cat.sla[p.tier],
            condition=p.condition,
            entitlements=[
                Entitlement(kind=k, label=_label(cat.entitlements, k, lang), included=n)
                for k, n in p.entitlements.items()
            ],
        )
        for pid, p in cat.packages.items()
    ]


@router.get(
    "/patients/{user_id}/packages",
    summary="患者的服务包与权益使用 / a patient's enrolments and entitlement usage",
    responses=FORBIDDEN,
)
def patient_packages(ops: PortraitReader, user_id: UserId, as_of: AsOf, lang: Lang) -> UsageOut:
    """Each enrolment of the patient with every entitlement used and left as of the day; the
    patient scope of the caller applies and the read is audited."""
    cat = service.catalogue()
    rows = service.patient_usage(ops, user_id, as_of, cat)
    out = []
    for e in rows:
        pkg = cat.packages.get(e.package_id)
        out.append(
            EnrolmentOut(
                enrollment_id=e.enrollment_id,
                package_id=e.package_id,
                package_name=(pkg.name_en if lang == "en" else pkg.name) if pkg else None,
                start_at=e.start_at,  # type: ignore[arg-type]
                end_at=e.end_at,  # type: ignore[arg-type]
                status=e.status,
                price_cny=e.price_cny,
                entitlements=[
                    EntitlementLeft(
                        kind=x.entitlement,
                        label=_label(cat.entitlements, x.entitlement, lang),
                        included=x.included,
                        used=x.used,
                        left=x.left,
                    )
                    for x in e.entitlements
                ],
            )
        )
    return UsageOut(user_id=user_id, as_of=as_of, enrollments=out)


@router.get(
    "/packages/activation",
    summary="90 天激活: 谁落后、差多少 / who is behind on the 90-day activation goal",
)
def activation(
    ops: PortraitReader,
    as_of: AsOf,
    page: Annotated[PageParams, Depends(page_params)],
    package_id: PackageId = None,
    behind_only: Annotated[
        bool, Query(description="只列落后者(默认) / only those behind (default)")
    ] = True,
) -> Page[ActivationOut]:
    """Enrolments in their activation window, the furthest behind first; audited as a list of
    patients. An unknown `package_id` is a 422 naming the packages that exist."""
    try:
        rows = service.activation(ops, as_of, behind_only=behind_only, package_id=package_id)
    except NotFound as exc:  # a query parameter, not a missing resource
        raise field_error("query", "package_id", exc) from exc
    chunk = rows[page.offset : page.offset + page.limit]
    return Page[ActivationOut](
        items=[ActivationOut(**r.__dict__) for r in chunk],
        total=len(rows),
        limit=page.limit,
        offset=page.offset,
    )


def _group(g) -> RenewalGroupOut:
    return RenewalGroupOut(ended=g.ended, renewed=g.renewed, rate=g.rate)


@router.get("/packages/renewal", summary="续约率(按是否激活) / renewal by activation")
def renewal(ops: MetricsReader, as_of: AsOf) -> RenewalOut:
    """Enrolments ended by the day, renewed or not, for those that reached the activation goal
    in their first 90 days and those that did not (aggregates only)."""
    r = service.renewal(ops, as_of)
    return RenewalOut(
        as_of=as_of,
        activated=_group(r.activated),
        not_activated=_group(r.not_activated),
        overall=_group(r.overall),
    )


@router.get("/packages/sla", summary="服务时效与超时 / delivery SLAs and breaches")
def sla(
    ops: MetricsReader,
    as_of: AsOf,
    days: Annotated[int, Query(ge=1, le=730, description="回看天数 / days back")] = 90,
    limit: Annotated[int, Query(ge=1, le=1000, description="列出的超时数 / breaches listed")] = 50,
) -> SlaOut:
    """Consultations of enrolled patients in the last `days` against their package's first
    reply limit, per package, with the worst breaches."""
    r = service.sla(ops, as_of, days=days, limit=limit)
    return SlaOut(
        as_of=as_of,
        days=days,
        rows=[
            SlaRowOut(**row.__dict__, breach_rate=row.breach_rate)  # type: ignore[misc]
            for row in r.rows
        ],
        breaches=[SlaBreachOut(**b.__dict__) for b in r.breaches],
        total_breaches=r.total_breaches,
    )


@router.get("/packages/outcomes", summary="健康结局: 签约前后控制率 / control before vs after")
def outcomes(ops: MetricsReader, as_of: AsOf) -> list[OutcomeOut]:
    """Blood-pressure or glucose control rate of each package's patients before and after
    their enrolment (aggregates only)."""
    return [
        OutcomeOut(
            package_id=o.package_id,
            measure=o.measure,
            patients=o.patients,
            controlled_before=o.controlled_before,
            controlled_after=o.controlled_after,
            rate_before=o.rate_before,
            rate_after=o.rate_after,
        )
        for o in service.outcomes(ops, as_of)
    ]
