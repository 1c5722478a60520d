"""Layer reports: counts per layer, migration between two dates, each user's layer history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import ibis
from ibis.backends import BaseBackend

from careops.config import Settings
from careops.tags.errors import TagError
from careops.tags.registry import all_tags, get_tag, unknown_message
from careops.tags.snapshot import (
    snapshot_dates,
    snapshot_name,
    stale_message,
    staleness,
    tags_at,
)

DIMENSIONS = ("lifecycle", "health_need", "value", "data_richness")
GROUPS = (
    "churn_risk",
    "frequent_consulter",
    "health_manager",
    "interactive",
    "chronic",
    "elderly",
    "child",
)


@dataclass(frozen=True)
class LayerCount:
    """Users of one layer: the dimension and the layer by their codes (`groups` and a tag name
    for a group flag); the shell names them (`layers_view`)."""

    dimension: str
    code: str
    users: int
    share: float


def layer_counts(
    con: BaseBackend, as_of: date, *, settings: Settings | None = None
) -> list[LayerCount]:
    """Users per value of each layer dimension (and per group flag), with shares of all users."""
    t = tags_at(con, as_of, [*DIMENSIONS, *GROUPS], settings=settings)
    aggs = {
        f"{d}__{code}": (t[d] == code).ifelse(1, 0).sum()
        for d in DIMENSIONS
        for code in get_tag(d).codes
    }
    aggs |= {f"groups__{g}": t[g].ifelse(1, 0).sum() for g in GROUPS}
    row = t.aggregate(total=t.count(), **aggs).to_pyarrow().to_pylist()[0]
    total = int(row.pop("total") or 0)
    out = []
    for key, n in row.items():
        dim, code = key.split("__", 1)
        out.append(LayerCount(dim, code, int(n or 0), (n or 0) / total if total else 0.0))
    return out


def migration_matrix(
    con: BaseBackend,
    start: date,
    end: date,
    dimension: str = "lifecycle",
    *,
    settings: Settings | None = None,
) -> list[dict]:
    """How many users moved from each layer at `start` to each layer at `end`.

    Users registered after `start` appear with `from` = None (they joined in between).
    """
    if dimension not in DIMENSIONS:
        raise TagError(
            f"未知的分层维度 {dimension!r}, 可选: {', '.join(DIMENSIONS)} / unknown layer "
            f"dimension {dimension!r}; use one of {', '.join(DIMENSIONS)}"
        )
    if end <= start:
        raise TagError(
            f"结束日 {end} 必须晚于开始日 {start} / the end {end} must be after the start {start}",
            field="period",
        )
    a = tags_at(con, start, [dimension], settings=settings).rename(before=dimension)
    b = tags_at(con, end, [dimension], settings=settings).rename(after=dimension)
    j = b.left_join(a, b.user_id == a.user_id)
    m = j.group_by([j.before, j.after]).aggregate(users=j.count())
    rows = [
        {"from": r["before"], "to": r["after"], "users": int(r["users"])}
        for r in m.to_pyarrow().to_pylist()
    ]
    return sorted(rows, key=lambda r: (r["from"] is not None, r["from"] or "", r["to"] or ""))


@dataclass(frozen=True)
class LayerHistory:
    """Layer changes (oldest first per user), the first `limit` of `total`."""

    rows: list[dict]
    total: int

    @property
    def omitted(self) -> int:
        return self.total - len(self.rows)


def layer_history(
    con: BaseBackend,
    user_id: str | None = None,
    dimension: str = "lifecycle",
    *,
    limit: int | None = None,
    settings: Settings | None = None,
) -> LayerHistory:
    """Layer changes found in the stored snapshots: (user, day, from, to), by user then day.

    "entered silent on D" is the first stored day D whose snapshot says silent while the
    previous stored snapshot said otherwise (or the user was not there yet). Snapshots made with
    other settings are refused (their layers would mix two definitions); a snapshot computed
    before later loads is kept: history is what was known on each day.
    """
    if dimension not in {t.name for t in all_tags()}:
        raise TagError(unknown_message("tag", dimension, [t.name for t in all_tags()]))
    if limit is not None and limit < 1:
        raise TagError(
            f"条数上限至少为 1, 实际 {limit} / limit must be at least 1, got {limit}",
            field="limit",
        )
    dates = snapshot_dates(con)
    if not dates:
        raise TagError(
            "还没有保存的标签快照, 请每天计算标签 (careops tags compute) / no tag snapshots "
            "stored; compute the tags every day (careops tags compute)"
        )
    stale = [d for d in dates if staleness(con, d, settings) == "settings"]
    if len(stale) == 1:
        raise TagError(stale_message(stale[0]), field="as_of")
    if stale:
        days = ", ".join(d.isoformat() for d in stale)
        raise TagError(
            f"{days} 的标签快照是用旧设置计算的, 请逐日重新计算 (careops tags compute) / the "
            f"tag snapshots of {days} were computed with other settings; recompute each day "
            "(careops tags compute)",
            field="as_of",
        )
    parts = []
    for d in dates:
        s = con.table(snapshot_name(d))
        if dimension not in s.columns:
            raise TagError(
                f"{d.isoformat()} 的标签快照没有 {dimension!r}, 请重新计算该日的标签 / the tag "
                f"snapshot of {d.isoformat()} has no {dimension!r}; recompute the tags of "
                f"{d.isoformat()} (careops tags compute)",
                field="as_of",
            )
        if user_id is not None:
            s = s.filter(s.user_id == user_id)
        parts.append(s.select("user_id", day=ibis.literal(d, type="date"), layer=s[dimension]))
    u = ibis.union(*parts)
    w = ibis.window(group_by=u.user_id, order_by=u.day)
    u = u.mutate(before=u.layer.lag().over(w), first=ibis.row_number().over(w) == 0)
    changes = u.filter(u.first | (u.layer != u.before) | (u.layer.isnull() != u.before.isnull()))
    total = int(changes.count().execute())
    changes = changes.order_by(["user_id", "day"])
    if limit is not None:
        changes = changes.limit(limit)
    rows = [
        {"user_id": r["user_id"], "day": r["day"], "from": r["before"], "to": r["layer"]}
        for r in changes.to_pyarrow().to_pylist()
    ]
    return LayerHistory(rows, total)
