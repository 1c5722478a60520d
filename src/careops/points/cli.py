"""`careops points …` and `careops referral …`: thin shells over `careops.points.service`,
`careops.points.sources` and `careops.points.referral` (parse, call, print; `--json`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from careops.cliutil import JsonOpt, StateOpt, WarehouseOpt, ops, out, print_json, rich_table
from careops.errors import CareOpsError, InvalidInput

points_app = typer.Typer(
    help="积分与等级 Growth points: balance, earn, redeem coupons, ledger, levels, doctors.",
    no_args_is_help=True,
)
referral_app = typer.Typer(
    help="邀请裂变 Referral: invite codes, attribution, rewards, invitation tree, K-factor.",
    no_args_is_help=True,
)

#: the flag that sets each field a points or referral error names
FLAGS = {
    "points": "--points",
    "rule": "--rule",
    "source": "--source",
    "coupon": "--coupon",
    "code": "--code",
    "channel": "--channel",
    "device": "--device",
    "phone": "--phone",
    "at": "--at",
    "root": "--root",
    "limit": "--limit",
    "user_id": "USER_ID",
}
LEVEL_ZH = {
    "member": "普通会员",
    "silver": "银卡会员",
    "gold": "金卡会员",
    "platinum": "铂金会员",
    "diamond": "钻石会员",
    "rising": "新锐医生",
    "skilled": "优秀医生",
    "senior": "资深医生",
    "star": "明星医生",
}
ENTRY_ZH = {"earn": "获得", "redeem": "兑换", "expire": "过期"}
RULE_ZH = {
    "checkup": "体检",
    "package": "服务包",
    "consultation": "问诊",
    "survey": "问卷",
    "manual": "人工",
    "answer": "接诊回复",
    "good_rating": "好评",
    "article": "科普文章",
    "expiry": "过期",
}

DoctorOpt = Annotated[bool, typer.Option("--doctor", help="医生积分 / a doctor's points")]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="时间 ISO 8601, 无时区按医院时区 / time (default now)"),
]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="统计日 YYYY-MM-DD (默认今天)")]


@contextmanager
def _context(warehouse: str | None, state: str | None) -> Iterator[Any]:
    """The service context; a domain error names the flag to change."""
    context = ops(warehouse, state)
    try:
        yield context
    except CareOpsError as exc:
        flag = FLAGS.get(exc.field or "")
        if flag and flag not in str(exc):
            raise type(exc)(f"{exc} ({flag})", field=exc.field) from None
        raise
    finally:
        context.close()


def _at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    from careops.config import get_settings

    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"时间 {text!r} 不是 ISO 8601 / --at {text!r} is not an ISO 8601 time", field="at"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=get_settings().tz)


def _as_of(text: str | None) -> dt.date:
    from careops.asof import parse_as_of

    return parse_as_of(text)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {k: _plain(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    return obj


def _kind(doctor: bool) -> str:
    return "doctor" if doctor else "patient"


@points_app.command("balance")
def balance(
    user_id: Annotated[str, typer.Argument(help="患者或医生 ID / patient or doctor id")],
    doctor: DoctorOpt = False,
    at: AtOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """积分余额与等级 / Available points, points expiring within 30 days, level."""
    from careops.points.service import balance as run

    with _context(warehouse, state) as c:
        b = run(c, _kind(doctor), user_id, _at(at))
    if json_:
        print_json(_plain(b))
        return
    lv = b.level
    nxt = (
        f", 距 {LEVEL_ZH.get(lv.next_code, lv.next_code)} 还差 {lv.to_next}" if lv.next_code else ""
    )
    out.print(
        f"{user_id}: 可用积分 {b.available} (30 天内过期 {b.expiring_30d}); 等级 "
        f"{LEVEL_ZH.get(lv.code, lv.code)} (近期获得 {lv.earned}{nxt})"
    )


@points_app.command("earn")
def earn(
    user_id: Annotated[str | None, typer.Argument(help="患者或医生 ID / holder id")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="积分规则 / earning rule")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="来源事件键, 如 order:o42 / source event")
    ] = None,
    points: Annotated[
        int | None, typer.Option("--points", help="积分 (仅 manual 规则) / points (manual)")
    ] = None,
    doctor: DoctorOpt = False,
    at: AtOpt = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    from_warehouse: Annotated[
        bool,
        typer.Option("--from-warehouse", help="从仓库事实批量发放 / credit the warehouse's facts"),
    ] = False,
    as_of: AsOfOpt = None,
    since: Annotated[str | None, typer.Option("--since", help="起始日 YYYY-MM-DD")] = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """发放积分(同一来源事件只记一次) / Credit points, once per source event."""
    if from_warehouse:
        from careops.points.sources import sync

        with _context(warehouse, state) as c:
            res = sync(c, _as_of(as_of), dt.date.fromisoformat(since) if since else None)
        if json_:
            print_json(_plain(res))
            return
        out.print(
            f"患者 新增 {res.new['patient']} / {res.seen['patient']} 条, 医生 新增 "
            f"{res.new['doctor']} / {res.seen['doctor']} 条 (截至 {res.as_of})"
        )
        return
    if user_id is None or rule is None or source is None:
        raise InvalidInput(
            "需要 USER_ID --rule --source (或 --from-warehouse) / give USER_ID, "
            "--rule and --source (or --from-warehouse)"
        )
    from careops.points.service import earn as run

    with _context(warehouse, state) as c:
        got = run(c, _kind(doctor), user_id, rule, source, at=_at(at), points=points, note=note)
    if json_:
        print_json(_plain(got))
        return
    e = got.entry
    word = "已记过, 未重复发放 / already credited" if got.replayed else "已发放 / credited"
    out.print(f"{e.holder_id}: +{e.points} {RULE_ZH.get(e.rule, e.rule)} — {word}")


@points_app.command("redeem")
def redeem(
    user_id: Annotated[str, typer.Argument(help="患者 ID / patient id")],
    coupon: Annotated[str, typer.Option("--coupon", help="优惠券种类 / coupon kind")],
    request_key: Annotated[
        str | None, typer.Option("--request-key", help="重试时同一键只兑换一次 / idempotency key")
    ] = None,
    at: AtOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """用积分兑换问诊优惠券 / Redeem points for a consultation coupon."""
    from careops.points.service import redeem as run

    with _context(warehouse, state) as c:
        got = run(c, user_id, coupon, request_key=request_key, at=_at(at))
    if json_:
        print_json(_plain(got))
        return
    out.print(
        f"{user_id}: 兑换 {got.kind} (¥{got.value_cny:g} 问诊券, 券码 {got.code}, 有效至 "
        f"{got.expires_at:%Y-%m-%d}), 扣 {got.points} 积分, 余 {got.balance_after}"
        + (" — 重复请求, 返回原券 / replayed" if got.replayed else "")
    )


def _source(e) -> str:
    """The source event of an entry (its key without the holder kind and rule)."""
    if e.entry == "earn" and e.key.count(":") >= 2:
        return e.key.split(":", 2)[2]
    return e.key


@points_app.command("ledger")
def ledger(
    user_id: Annotated[str, typer.Argument(help="患者或医生 ID / holder id")],
    doctor: DoctorOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """积分明细, 最新在前 / The holder's ledger, newest first."""
    from careops.points.service import ledger as run

    with _context(warehouse, state) as c:
        items = run(c, _kind(doctor), user_id, limit=limit)
    if json_:
        print_json(_plain(items))
        return
    rows = [
        [
            e.at.strftime("%Y-%m-%d %H:%M"),
            ENTRY_ZH.get(e.entry, e.entry),
            RULE_ZH.get(e.rule, e.rule),
            f"{e.points:+d}",
            e.expires_at.strftime("%Y-%m-%d") if e.expires_at else "",
            _source(e),
        ]
        for e in items
    ]
    out.print(
        rich_table(
            f"积分明细 / ledger: {user_id}",
            ["时间", "类型", "规则", "积分", "过期日", "来源"],
            rows,
        )
    )


@points_app.command("levels")
def levels(
    doctor: DoctorOpt = False,
    at: AtOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """等级门槛与各等级人数 / Level thresholds and how many holders stand at each."""
    from careops.points.service import level_counts

    with _context(warehouse, state) as c:
        rows = level_counts(c, _kind(doctor), _at(at))
    if json_:
        print_json(_plain(rows))
        return
    out.print(
        rich_table(
            "等级 / levels",
            ["等级", "code", "门槛积分", "人数"],
            [[LEVEL_ZH.get(r.code, r.code), r.code, r.min_points, r.holders] for r in rows],
        )
    )


@points_app.command("doctors")
def doctors(
    start: Annotated[str, typer.Option("--from", help="起始日 YYYY-MM-DD (含)")],
    end: Annotated[str, typer.Option("--to", help="结束日 YYYY-MM-DD (不含)")],
    department: Annotated[str | None, typer.Option("--department", help="科室")] = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """医生积分同科室对比 / Doctors' points compared with their department's peers."""
    from careops.points.sources import doctor_report

    with _context(warehouse, state) as c:
        a, b = _at(start), _at(end)
        if a is None or b is None or a >= b:
            raise InvalidInput("--from 须早于 --to / --from must be before --to", field="at")
        rows = doctor_report(c, a, b, department)
    if json_:
        print_json(_plain(rows))
        return
    table = [
        [
            r.department or "",
            f"{r.rank}/{r.peers}",
            r.doctor_id,
            r.name or "",
            r.points,
            " ".join(f"{RULE_ZH.get(k, k)}{v}" for k, v in r.by_rule.items()),
            f"{r.dept_median:g}",
            f"{r.vs_median:.2f}×" if r.vs_median is not None else "—",
            f"{r.percentile:.0f}%",
            LEVEL_ZH.get(r.level, r.level),
        ]
        for r in rows
    ]
    cols = [
        "科室",
        "排名",
        "医生",
        "姓名",
        "积分",
        "构成",
        "科室中位数",
        "相对中位数",
        "超过同事",
        "等级",
    ]
    out.print(rich_table(f"医生积分 / doctors' points {start} – {end}", cols, table))


@points_app.command("expire")
def expire(
    at: AtOpt = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """记录到期积分(每日任务) / Write the expiry of points due (the daily job)."""
    from careops.points.service import expire_points

    with _context(warehouse, state) as c:
        n = expire_points(c, _at(at))
    out.print(f"过期积分 / points expired: {n}")


@referral_app.command("code")
def code(
    user_id: Annotated[str, typer.Argument(help="邀请人 ID / inviter")],
    channel: Annotated[str, typer.Option("--channel", help="wechat|moments|sms|poster|link")] = (
        "link"
    ),
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """生成邀请码和链接 / A new invite code and link."""
    from careops.points.referral import create_code

    with _context(warehouse, state) as c:
        got = create_code(c, user_id, channel)
    if json_:
        print_json(_plain(got))
        return
    out.print(f"邀请码 {got.code}  链接 {got.link}  有效至 {got.expires_at:%Y-%m-%d}")


@referral_app.command("attribute")
def attribute(
    invitee: Annotated[str | None, typer.Argument(help="新注册用户 ID / invitee")] = None,
    code_: Annotated[str | None, typer.Option("--code", help="邀请码 / invite code")] = None,
    device: Annotated[str | None, typer.Option("--device", help="设备号 / device id")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="手机号 / phone")] = None,
    at: AtOpt = None,
    from_warehouse: Annotated[
        bool,
        typer.Option(
            "--from-warehouse", help="导入仓库中 referrer_id 的注册 / import referred patients"
        ),
    ] = False,
    as_of: AsOfOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """将注册归属邀请人 / Attribute a sign-up to its inviter."""
    from careops.points import referral

    if from_warehouse:
        with _context(warehouse, state) as c:
            n = referral.import_signups(c, _as_of(as_of))
        out.print(f"导入邀请注册 / referred sign-ups imported: {n}")
        return
    if invitee is None or code_ is None:
        raise InvalidInput("需要 INVITEE 和 --code (或 --from-warehouse) / give INVITEE and --code")
    with _context(warehouse, state) as c:
        got = referral.attribute(c, invitee, code_, at=_at(at), device_id=device, phone=phone)
    if json_:
        print_json(_plain(got))
        return
    flag = f" ⚠ 可疑 ({got.reason}), 不发奖励" if got.status == "suspect" else ""
    out.print(f"{got.invitee_id} ← 邀请人 {got.inviter_id} ({got.channel}){flag}")


@referral_app.command("rewards")
def rewards(
    as_of: AsOfOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """发放首次有效行为后的邀请奖励(只发一次) / Pay referral rewards earned (once each)."""
    from careops.points.referral import pay_rewards

    with _context(warehouse, state) as c:
        r = pay_rewards(c, _as_of(as_of))
    if json_:
        print_json(_plain(r))
        return
    out.print(
        f"现金奖励 {r.cash_rewards} 笔 ¥{r.cash_cny:g}, 免费体检 {r.checkups}; 待首次行为 "
        f"{r.waiting}, 已过期 {r.lapsed}, 可疑 {r.suspect} (截至 {r.as_of})"
    )


@referral_app.command("tree")
def tree(
    root: Annotated[str | None, typer.Option("--root", help="从此用户展开 / expand a user")] = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """邀请树: 各代人数与下级 / The invitation tree: generations and a user's invitees."""
    from careops.points.referral import tree as run

    with _context(warehouse, state) as c:
        t = run(c, root)
    if json_:
        print_json(
            {
                "seeds": t.seeds,
                "generations": _plain(t.generations),
                "descendants": [list(d) for d in t.descendants],
            }
        )
        return
    rows = [
        [g.generation, g.users, f"{g.ratio:.3f}" if g.ratio is not None else "—"]
        for g in t.generations
    ]
    out.print(rich_table("邀请树 / invitation tree", ["代", "人数", "相对上一代"], rows))
    for user, inviter, depth in t.descendants:
        out.print(f"{'  ' * depth}{user} ← {inviter}")


@referral_app.command("kfactor")
def kfactor(
    as_of: AsOfOpt = None,
    by: Annotated[
        str, typer.Option("--by", help="generation | channel | 其他指标维度 / any breakdown")
    ] = "generation",
    window_days: Annotated[int | None, typer.Option("--window-days", min=1, max=3650)] = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """裂变系数 K (按代、渠道) / K-factor by generation or channel (the k_factor metric)."""
    from careops.points.referral import kfactor as run

    with _context(warehouse, state) as c:
        overall, groups = run(c, _as_of(as_of), by=by, window_days=window_days)
    if json_:
        print_json({"k_factor": overall, "by": by, "groups": _plain(groups)})
        return
    rows = [
        [g.group, f"{g.k:.4f}" if g.k is not None else "—", g.converted, g.active] for g in groups
    ]
    out.print(
        rich_table(
            f"K 因子 / K-factor = {overall if overall is None else round(overall, 4)}",
            [by, "K", "转化邀请", "活跃用户"],
            rows,
        )
    )
