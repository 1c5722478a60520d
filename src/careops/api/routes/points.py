"""Growth points and referral (积分与裂变) for operations staff and the patient app (an API key
with the `growth.read` / `growth.write` scopes): a patient's balance and ledger, redeeming
points for a consultation coupon (idempotent by the `Idempotency-Key` header, never spending
twice under concurrent requests), invite codes, sign-ups with a code, and the K-factor
(`careops.points.service`, `careops.points.referral`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.api.pages import Page, PageParams, page_params
from careops.api.params import AsOf, field_error
from careops.api.routes.patients import UserId
from careops.errors import InvalidInput, NotFound
from careops.points import referral
from careops.points import service as points
from careops.service import Ops

router = APIRouter(
    tags=["points"],
    responses={
        **AUTH_ERRORS,
        404: {"description": "没有积分账户或邀请码 / no points account, or no such code"},
        409: {"description": "积分不足或键已用于别处 / not enough points, or key reused"},
    },
)

Reader = Annotated[Ops, Depends(require("growth.read"))]
Writer = Annotated[Ops, Depends(require("growth.write"))]
KEY_PATTERN = r"^[\w.:/@+-]{1,160}$"
Code = Annotated[
    str,
    Path(
        min_length=10,
        max_length=10,
        pattern=r"^[2-9A-HJ-NP-Za-hj-np-z]{10}$",
        description="邀请码(10 位) / invite code",
    ),
]


class LevelOut(BaseModel):
    code: str = Field(description="等级代码 / level code")
    earned: int = Field(description="窗口内累计获得 / points earned in the level window")
    next_code: str | None
    to_next: int | None = Field(description="距下一级 / points to the next level")


class BalanceOut(BaseModel):
    """A patient's points now: available, expiring within 30 days, and the level."""

    user_id: str
    at: dt.datetime
    available: int
    expiring_30d: int
    level: LevelOut


class EntryOut(BaseModel):
    """One ledger entry (earn, redeem, expire)."""

    id: int
    entry: str
    rule: str
    points: int
    at: dt.datetime
    expires_at: dt.datetime | None
    note: str | None


class Redeem(BaseModel):
    """Which coupon to buy with points."""

    model_config = ConfigDict(extra="forbid")
    coupon: str = Field(
        min_length=1, max_length=64, description="优惠券种类 / coupon kind, e.g. consult_10"
    )


class CouponOut(BaseModel):
    """The coupon bought, and the balance after; `replayed`: this key was redeemed before."""

    code: str
    user_id: str
    kind: str
    value_cny: float
    points: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    balance_after: int
    replayed: bool


class NewCode(BaseModel):
    """A patient who invites, and the channel the code is for."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=128, description="邀请人 / the inviter")
    channel: str = Field(
        "link", min_length=1, max_length=16, description="渠道 / channel, e.g. wechat"
    )


class CodeOut(BaseModel):
    """An invite code and its link."""

    code: str
    user_id: str
    channel: str
    link: str
    created_at: dt.datetime
    expires_at: dt.datetime
    uses: int = 0
    expired: bool = False


class SignUp(BaseModel):
    """A sign-up with an invite code; device and phone feed the fraud guards (hashed or cut to
    a prefix, never stored as sent)."""

    model_config = ConfigDict(extra="forbid")
    invitee_id: str = Field(min_length=1, max_length=128, description="新用户 / the invitee")
    code: str = Field(min_length=1, max_length=32, description="邀请码 / invite code")
    signed_up_at: dt.datetime | None = Field(None, description="注册时间 / when (default now)")
    device_id: str | None = Field(None, min_length=1, max_length=128)
    phone: str | None = Field(None, min_length=1, max_length=20)


class SignUpOut(BaseModel):
    """The attribution: `suspect` ones (with the reason) earn no reward."""

    invitee_id: str
    inviter_id: str
    code: str | None
    channel: str
    signed_up_at: dt.datetime
    status: str
    reason: str | None
    replayed: bool


class KGroupOut(BaseModel):
    group: str
    k: float | None
    converted: float
    active: float


class KFactorOut(BaseModel):
    """The K-factor (converted invites per active user), overall and per group."""

    as_of: dt.date
    by: str
    k: float | None
    groups: list[KGroupOut]


#: the domain's names for fields the bodies name otherwise
_BODY_NAMES = {"at": "signed_up_at"}


def _field(exc: InvalidInput | NotFound, where: str, default: str) -> Exception:
    name = exc.field or default
    return field_error(where, _BODY_NAMES.get(name, name), exc)


@router.get("/points/{user_id}", summary="患者积分余额与等级 / a patient's points and level")
def get_balance(ops: Reader, user_id: UserId) -> BalanceOut:
    """Available points, what expires within 30 days, and the level; audited."""
    b = points.balance(ops, "patient", user_id)
    ops.audit("points.balance", f"points:patient:{user_id}", {}, subject=user_id)
    return BalanceOut(
        user_id=b.holder_id,
        at=b.at,
        available=b.available,
        expiring_30d=b.expiring_30d,
        level=LevelOut(**b.level.__dict__),
    )


@router.get("/points/{user_id}/ledger", summary="积分流水 / a patient's points ledger")
def get_ledger(
    ops: Reader, user_id: UserId, page: Annotated[PageParams, Depends(page_params)]
) -> Page[EntryOut]:
    """Entries newest first, a page at a time; audited."""
    items, total = points.ledger_page(ops, "patient", user_id, limit=page.limit, offset=page.offset)
    ops.audit("points.ledger", f"points:patient:{user_id}", {"rows": len(items)}, subject=user_id)
    return Page[EntryOut](
        items=[EntryOut(**{k: getattr(e, k) for k in EntryOut.model_fields}) for e in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/points/{user_id}/redeem",
    status_code=201,
    summary="积分兑换问诊券 / redeem points for a consultation coupon",
    responses={200: {"description": "同一幂等键的重放 / a replay of the same key"}},
)
def redeem(
    ops: Writer,
    user_id: UserId,
    body: Redeem,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=KEY_PATTERN,
            description="幂等键: 重试时带同一个, 只兑换一次 / retry with the same key: one coupon",
        ),
    ] = None,
) -> CouponOut:
    """Spend the coupon's points, oldest lots first; too few points is a 409 and nothing is
    spent; the same `Idempotency-Key` again answers the first coupon (200, `replayed`)."""
    try:
        c = points.redeem(ops, user_id, body.coupon, request_key=idempotency_key)
    except InvalidInput as exc:
        raise _field(exc, "body", "coupon") from exc
    if c.replayed:
        response.status_code = 200
    return CouponOut(**c.__dict__)


@router.post("/referral/codes", status_code=201, summary="生成邀请码与链接 / issue an invite code")
def new_code(ops: Writer, body: NewCode) -> CodeOut:
    """A new invite code and link for a patient on a channel; audited."""
    try:
        c = referral.create_code(ops, body.user_id, body.channel)
    except (InvalidInput, NotFound) as exc:
        raise _field(exc, "body", "user_id") from exc
    return CodeOut(**c.__dict__)


@router.get("/referral/codes/{code}", summary="查询邀请码 / look an invite code up")
def get_code(ops: Reader, code: Code) -> CodeOut:
    """Who owns the code, its channel, validity and uses; audited."""
    return CodeOut(**referral.code_info(ops, code).__dict__)


@router.post(
    "/referral/signups",
    status_code=201,
    summary="凭邀请码注册归因 / attribute a sign-up to its inviter",
    responses={200: {"description": "已归因过(重放) / attributed before (a replay)"}},
)
def sign_up(ops: Writer, body: SignUp, response: Response) -> SignUpOut:
    """Attribute the invitee's sign-up to the code's owner (an expired or unknown code, a
    self-invite, a malformed device or phone is a 422 naming the field; another inviter for
    the same invitee a 409). Suspicious sign-ups are attributed with `status: suspect`."""
    try:
        a = referral.attribute(
            ops,
            body.invitee_id,
            body.code,
            at=body.signed_up_at,
            device_id=body.device_id,
            phone=body.phone,
        )
    except (InvalidInput, NotFound) as exc:
        raise _field(exc, "body", "code") from exc
    if a.replayed:
        response.status_code = 200
    return SignUpOut(**a.__dict__)


@router.get("/referral/kfactor", summary="K 因子(按代际或渠道) / the K-factor by group")
def kfactor(
    ops: Reader,
    as_of: AsOf,
    by: Annotated[
        Literal["generation", "channel"], Query(description="分组 / group by")
    ] = "generation",
    window_days: Annotated[
        int | None, Query(ge=1, le=3650, description="窗口天数 / window, days")
    ] = None,
) -> KFactorOut:
    """Converted invites per active user as of the day, overall and per invitation generation
    or inviter's channel (also needs `metrics.read`)."""
    k, groups = referral.kfactor(ops, as_of, by=by, window_days=window_days)
    return KFactorOut(as_of=as_of, by=by, k=k, groups=[KGroupOut(**g.__dict__) for g in groups])
