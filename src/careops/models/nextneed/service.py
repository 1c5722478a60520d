"""Next needs as services: mine and register association rules, give each patient their next
need (the `next_need` smart tag's values), check mined rules on the window after their date.

The tag: `next_need_table(ops, as_of)` returns one row per patient with a need — `user_id`,
`next_need` (a written rule's code such as `flu_vaccine`, or a mined consequent such as
`order:DEV-GLU`), `next_need_label`, `next_need_reason`, `next_need_source` (rule / mined) —
for journeys to trigger on. (The tag registry computes tags as Ibis expressions over warehouse
tables; a model's output is not one, so this is the function a snapshot step calls.)
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from careops.asof import AsOf
from careops.errors import InvalidInput, NotFound
from careops.models.nextneed import mine as mining
from careops.models.nextneed.rules import NeedRules, load_rules
from careops.models.registry import (
    ModelMeta,
    Registry,
    check_compatible,
    check_usable,
    fingerprint,
    library_versions,
    registry_dir,
)
from careops.service import Ops

KIND = "nextneed"
FORMAT_VERSION = 1
RULES_JSON = "rules.json"


def registry(ops: Ops) -> Registry:
    return Registry(registry_dir(ops.warehouse_url, ops.settings))


def _names(con) -> dict[str, str]:
    cat = con.table("catalogue").select("item_id", "name").to_pyarrow().to_pylist()
    return {r["item_id"]: r["name"] for r in cat if r["name"]}


def backtest(con, ops: Ops, as_of: dt.date, days: int = 30) -> dict[str, Any]:
    """Rules mined as of `as_of − days`, applied as of that date, checked on the `days` after.
    Each (patient, mined need) is a prediction: its hit rate (the patient took the need up in
    the check window) beside the base rate of the same needs (the share of all patients who
    lacked the need and took it up in the window, averaged over the predictions). No fact of
    the check window is used by the rules."""
    import ibis

    start = as_of - dt.timedelta(days=days)
    rules, _ = mining.mine(con, start, ops.settings)
    if not rules:
        return {"skipped": "没有挖掘到规则 / no rules mined", "as_of": start.isoformat()}
    names = _names(con)
    window = ops.settings.models.nextneed_window_days
    before = mining.facts_by_user(mining.facts(con, start, ops.settings).to_pyarrow())
    cutoff = AsOf(con, start, ops.settings).cutoff
    later = mining.facts(con, as_of, ops.settings)
    later = later.filter(later.last_ts >= ibis.literal(cutoff, type=mining.dt_utc()))
    after: dict[str, set[str]] = {}
    for r in later.select("user_id", "code").to_pyarrow().to_pylist():
        after.setdefault(r["user_id"], set()).add(r["code"])
    consequents = {x.consequent for x in rules}
    took = dict.fromkeys(consequents, 0)
    lacking = dict.fromkeys(consequents, 0)
    for u, fs in before.items():
        have = {c for c, _, _ in fs}
        for c in consequents - have:
            lacking[c] += 1
            took[c] += c in after.get(u, ())
    pairs, hits, base, patients = 0, 0, 0.0, 0
    empty = NeedRules((), "")
    for u, fs in before.items():
        needs = mining.needs_for(fs, cutoff, empty, rules, window, names)
        patients += bool(needs)
        for n in needs:
            pairs += 1
            hits += n.need in after.get(u, ())
            base += took[n.need] / max(lacking[n.need], 1)
    rate = hits / pairs if pairs else None
    base_rate = base / pairs if pairs else None
    return {
        "as_of": start.isoformat(),
        "check_days": days,
        "rules": len(rules),
        "patients_with_need": patients,
        "predictions": pairs,
        "taken_up": hits,
        "hit_rate": None if rate is None else round(rate, 4),
        "base_rate": None if base_rate is None else round(base_rate, 4),
        "lift": None if not rate or not base_rate else round(rate / base_rate, 2),
    }


def train(ops: Ops, as_of: dt.date) -> ModelMeta:
    """Mine association rules from facts before `as_of`, backtest them, register them."""
    ops.require("tags.compute")
    reg = registry(ops)
    with ops.warehouse(read_only=True) as con:
        frame = AsOf(con, as_of, ops.settings)
        frame.validate()
        rules, stats = mining.mine(con, as_of, ops.settings)
        if stats["patients"] == 0:
            raise InvalidInput(
                f"{as_of} 之前没有订单、问诊或诊断 / no orders, consultations or conditions before "
                f"{as_of}: nothing to learn from",
                field="as_of",
            )
        try:
            check = backtest(con, ops, as_of)
        except InvalidInput as exc:
            check = {"skipped": str(exc)}
        print_ = fingerprint(con, frame.cutoff, mining.SOURCES)
    m = ops.settings.models
    model_id, tmp = reg.new_folder(KIND, as_of)
    try:
        (tmp / RULES_JSON).write_text(
            json.dumps([r.to_dict() for r in rules], ensure_ascii=False, indent=1), "utf-8"
        )
        meta = ModelMeta(
            kind=KIND,
            model_id=model_id,
            format_version=FORMAT_VERSION,
            as_of=as_of.isoformat(),
            trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            fingerprint=print_,
            settings={
                "window_days": m.nextneed_window_days,
                "min_users": m.nextneed_min_users,
                "min_confidence": m.nextneed_min_confidence,
                "min_lift": m.nextneed_min_lift,
                "timezone": ops.settings.timezone,
            },
            libraries=library_versions(),
            evaluation={"data": stats | {"rules": len(rules)}, "backtest": check},
        )
        final = reg.commit(meta, tmp)
    except BaseException:
        reg.discard(tmp)
        raise
    ops.audit("nextneed.train", str(final), {"as_of": as_of.isoformat(), "model_id": model_id})
    return meta


def load(
    ops: Ops, as_of: dt.date, model_id: str | None = None
) -> tuple[ModelMeta | None, list[mining.MinedRule]]:
    """The mined rules usable as of `as_of` (`model_id`, else the newest as of it or earlier;
    none registered: no mined rules, the written rules still apply)."""
    reg = registry(ops)
    if model_id is None:
        try:
            meta = reg.latest(KIND, as_of)
        except NotFound:
            return None, []
    else:
        meta = reg.show(model_id)
    check_compatible(meta, KIND, FORMAT_VERSION)
    check_usable(meta, as_of)
    try:
        raw = json.loads((reg.folder(meta.model_id) / RULES_JSON).read_text("utf-8"))
        rules = [mining.MinedRule(**r) for r in raw]
    except (OSError, ValueError, TypeError) as exc:
        from careops.models.registry import ModelError

        raise ModelError(
            f"规则文件损坏 / damaged mined rules {meta.model_id}: {type(exc).__name__}"
        ) from None
    return meta, rules


@dataclass
class NextNeeds:
    as_of: dt.date
    model_id: str | None
    table: pa.Table  # user_id, next_need, next_need_label, next_need_reason, next_need_source
    details: dict[str, list[mining.Need]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for n in self.table.column("next_need").to_pylist():
            counts[n] = counts.get(n, 0) + 1
        return {
            "as_of": self.as_of.isoformat(),
            "model_id": self.model_id,
            "patients_with_need": self.table.num_rows,
            "by_need": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        }


def next_need_table(
    ops: Ops,
    as_of: dt.date,
    *,
    user_ids: list[str] | None = None,
    model_id: str | None = None,
    rules: NeedRules | None = None,
) -> NextNeeds:
    """Each patient's next need as of `as_of` (the `next_need` tag; see the module docstring)."""
    ops.require("models.read")
    rules = rules or load_rules()
    meta, mined = load(ops, as_of, model_id)
    with ops.warehouse(read_only=True) as con:
        frame = AsOf(con, as_of, ops.settings)
        frame.validate()
        f = mining.facts(con, as_of, ops.settings)
        # patients registered by then only: a condition's onset may precede the registration
        registered = frame.facts("patients", "registered_at").user_id
        f = f.filter(f.user_id.isin(registered))
        if user_ids is not None:
            from careops.models.recommend.service import check_user_id

            for u in user_ids:
                check_user_id(u)
            known = frame.facts("patients", "registered_at")
            known = known.filter(known.user_id.isin(user_ids)).user_id.to_pyarrow().to_pylist()
            missing = sorted(set(user_ids) - set(known))
            if missing:
                raise NotFound(
                    f"患者不存在或在 {as_of} 前未注册 / no patient {missing[0][:60]!r} registered "
                    f"before {as_of}",
                    field="user_id",
                )
            f = f.filter(f.user_id.isin(user_ids))
        by_user = mining.facts_by_user(f.to_pyarrow())
        names = _names(con)
    window = ops.settings.models.nextneed_window_days
    rows: dict[str, list] = {k: [] for k in _COLUMNS}
    details: dict[str, list[mining.Need]] = {}
    for u in sorted(by_user):
        needs = mining.needs_for(by_user[u], frame.cutoff, rules, mined, window, names)
        details[u] = needs
        if needs:
            n = needs[0]
            for k, v in zip(_COLUMNS, (u, n.need, n.label, n.reason, n.source), strict=True):
                rows[k].append(v)
    table = pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()})
    return NextNeeds(as_of, meta.model_id if meta else None, table, details)


_COLUMNS = ("user_id", "next_need", "next_need_label", "next_need_reason", "next_need_source")


def store(ops: Ops, result: NextNeeds) -> str:
    """The next needs as the smart tag `next_need` of their day (`careops.tags.smart`), audited;
    returns the table name. Needs `tags.compute`."""
    from careops.tags.smart import store_scores

    ops.require("tags.compute")
    with ops.warehouse(existing=True) as con:
        name = store_scores(con, "nextneed", result.as_of, result.table)
    ops.audit(
        "nextneed.store",
        name,
        {"as_of": result.as_of.isoformat(), "rows": result.table.num_rows},
    )
    return name


def export(ops: Ops, result: NextNeeds, path: Path) -> None:
    """Write the per-patient needs (CSV or Parquet), audited: no file leaves without its row."""
    from careops.io import write_table

    write_table(result.table, path)
    try:
        ops.audit(
            "nextneed.export",
            str(Path(path).resolve()),
            {"as_of": result.as_of.isoformat(), "rows": result.table.num_rows},
        )
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
