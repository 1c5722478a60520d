"""Experiments as a service: create, list, get, stop, delete; expose users and import exposures;
analyse a stored experiment or a per-user table in the warehouse.

Functions of `ops: Ops` and typed arguments returning typed results (`careops.service`); the
CLI prints them, the API and the cockpit will render them. Create, stop, delete, expose and
import write their audit row with `ops.audit(..., conn=conn)` inside the state-store
transaction of the change, so the change and its audit row commit or roll back together.

Exposures: `expose` assigns with the experiment's deterministic assignment
(`careops.experiments.assign`), skips users held out in the global control group and, when the
experiment targets a segment, users outside it as of the exposure's hospital day; a user is
exposed once (the first exposure wins, also against a concurrent writer). `import_exposures`
reads exposures logged elsewhere (CSV or Parquet: user_id, variant, exposed_at), checks every
row before writing any (also that each user is in the targeting segment on the day of the
exposure, as `expose` would), and writes them all in one transaction: a bad file is never half
applied, and importing the same file twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from careops.errors import InputError
from careops.experiments import store
from careops.experiments.records import ExperimentCreate, ExperimentPublic, ExperimentStored

if TYPE_CHECKING:
    from datetime import date

    import pyarrow as pa

    from careops.experiments.analyze import Analysis
    from careops.experiments.definition import ExperimentDefinition
    from careops.experiments.measure import ExperimentOutcome
    from careops.service import Ops

Outcome = Literal["exposed", "already_exposed", "global_control", "not_targeted"]
MAX_LISTED_ERRORS = 20


def _now(now: dt.datetime | None) -> dt.datetime:
    from careops.service import now as current

    return now or current()


@dataclass(frozen=True)
class Created:
    """A created experiment, how its segment was read (`saved`, `rule`, None = everyone), and
    warnings (`window_over`: its end is already past, so nobody can be exposed)."""

    experiment: ExperimentPublic
    segment_kind: Literal["saved", "rule"] | None
    warnings: tuple[str, ...] = ()


def create(
    ops: Ops, data: Mapping[str, Any] | ExperimentCreate, now: dt.datetime | None = None
) -> Created:
    """Store a new experiment: its metrics must be in the registry, its segment a saved segment
    or a valid rule, its key new. Audited in the same transaction."""
    from careops.experiments.targeting import check_segment
    from careops.metrics.registry import all_metrics

    record = ExperimentCreate.model_validate(data)
    definition = record.definition()
    definition.check_metrics([m.name for m in all_metrics()])
    kind = None
    if record.segment is not None:
        from careops.segments.service import list_saved

        kind = check_segment(record.key, record.segment, [s.name for s in list_saved(ops)])
    now = _now(now)
    with store.writing(ops.state) as conn:
        stored = store.insert_experiment(conn, record, ops.actor.label, now)
        ops.audit("experiment.create", record.key, record.to_json(), conn=conn)
    warnings = ("window_over",) if record.end is not None and record.end <= now else ()
    return Created(stored.public(now), kind, warnings)


def list_experiments(ops: Ops, now: dt.datetime | None = None) -> list[ExperimentPublic]:
    """Every stored experiment, by key, with its status now."""
    with ops.state.connect() as conn:
        return [r.public(_now(now)) for r in store.fetch_all(conn)]


def get(ops: Ops, key: str) -> ExperimentStored:
    """The stored experiment `key` (`ExperimentNotFound` lists the known keys)."""
    with ops.state.connect() as conn:
        return store.fetch(conn, key)


def stop(ops: Ops, key: str, now: dt.datetime | None = None) -> ExperimentPublic:
    """End a running experiment now (its end becomes now), audited in the same transaction."""
    now = _now(now)
    with store.writing(ops.state) as conn:
        before, after = store.end_now(conn, key, now)
        ops.audit("experiment.stop", key, store.stop_detail(before, after), conn=conn)
    return after.public(now)


def delete(ops: Ops, key: str) -> ExperimentPublic:
    """Delete an experiment nobody was exposed to (a test, a mistake), audited in the same
    transaction; one with exposures is kept (stop it instead)."""
    with store.writing(ops.state) as conn:
        stored = store.remove(conn, key)
        ops.audit("experiment.delete", key, stored.definition.to_json(), conn=conn)
    return stored.public()


# --- exposures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserExposure:
    user_id: str
    variant: str | None
    outcome: Outcome


@dataclass(frozen=True)
class Exposed:
    """What `expose` did for each user, in the order given (a repeated id once)."""

    experiment: str
    at: dt.datetime
    users: tuple[UserExposure, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(u.outcome == outcome for u in self.users)


def expose(
    ops: Ops,
    key: str,
    users: Sequence[object],
    at: dt.datetime | None = None,
    global_control_pct: float | None = None,
) -> Exposed:
    """Assign `users` to the experiment's variants and log their exposure at `at` (default
    now), once per user; users in the global control group and, with a targeting segment,
    users outside it get no exposure."""
    from careops.experiments.assign import GLOBAL_CONTROL, assign
    from careops.experiments.exposure import exposure_table

    at = _now(at)
    ids = _user_ids(users)
    stored = get(ops, key)
    definition = stored.definition.definition()
    exposure_table(definition, [], at)  # refuses an instant outside the window, before any work
    targeted = (
        _targeted(ops, definition, {at.astimezone(ops.settings.tz).date(): ids})
        if definition.segment
        else set(ids)
    )
    eligible = [u for u in ids if u in targeted]
    variants = (
        dict(
            zip(eligible, assign(eligible, definition, global_control_pct).to_pylist(), strict=True)
        )
        if eligible
        else {}
    )
    rows = [
        {"experiment_key": key, "user_id": u, "variant": v, "exposed_at": at}
        for u, v in variants.items()
        if v != GLOBAL_CONTROL
    ]
    with store.writing(ops.state) as conn:
        new = {r["user_id"] for r in store.insert_exposures(conn, rows)}
        before = store.exposed_variants(
            conn, key, [r["user_id"] for r in rows if r["user_id"] not in new]
        )
        ops.audit(
            "experiment.expose",
            key,
            {"users": len(ids), "exposed": len(new), "at": at.isoformat()},
            conn=conn,
        )
    out = []
    for u in ids:
        if u not in targeted:
            out.append(UserExposure(u, None, "not_targeted"))
        elif variants[u] == GLOBAL_CONTROL:
            out.append(UserExposure(u, None, "global_control"))
        elif u in new:
            out.append(UserExposure(u, variants[u], "exposed"))
        else:
            out.append(UserExposure(u, before.get(u, variants[u]), "already_exposed"))
    return Exposed(key, at, tuple(out))


def _user_ids(users: Sequence[object]) -> list[str]:
    ids: list[str] = []
    for position, value in enumerate(users, start=1):
        text = "" if value is None else str(value).strip()
        if not text:
            raise InputError(
                f"第 {position} 个用户 ID 为空 / user id number {position} is "
                "empty; every user needs an id"
            )
        if len(text) > 128:
            raise InputError(
                f"第 {position} 个用户 ID 超过 128 个字符 / user id number "
                f"{position} is longer than 128 characters"
            )
        ids.append(text)
    if not ids:
        raise InputError("没有给出用户 / no users given")
    return list(dict.fromkeys(ids))


def _targeted(
    ops: Ops, definition: ExperimentDefinition, ids_by_day: Mapping[date, Sequence[str]]
) -> set[str]:
    """Those of the ids in the experiment's segment as of their hospital day (facts before
    00:00 of that day, so the answer does not change during the day); one segment evaluation
    per day, on one read-only connection."""
    import ibis
    import pyarrow as pa

    from careops.segments.evaluate import members
    from careops.segments.service import list_saved

    assert definition.segment is not None
    rule: Any = definition.segment
    saved = {s.name: s for s in list_saved(ops)}
    if rule in saved:
        rule = saved[rule].rule
    found: set[str] = set()
    with ops.warehouse(read_only=True) as con:
        for as_of, ids in sorted(ids_by_day.items()):
            wanted = ibis.memtable(pa.table({"exp_user": pa.array(list(ids), pa.string())}))
            m = members(con, rule, as_of, settings=ops.settings)
            hit = m.semi_join(wanted, m.user_id == wanted.exp_user).select("user_id")
            found |= {r["user_id"] for r in hit.to_pyarrow().to_pylist()}
    return found


@dataclass(frozen=True)
class Imported:
    experiment: str
    rows: int
    inserted: int
    already: int
    by_variant: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    zh: str
    en: str

    def __str__(self) -> str:
        return f"第 {self.row} 行 {self.field}：{self.zh} / row {self.row} {self.field}: {self.en}"


def import_exposures(ops: Ops, key: str, path: str | Path) -> Imported:
    """Import exposures logged elsewhere: a CSV or Parquet file with user_id, variant and
    exposed_at (ISO time; without an offset it is hospital time). Every row is checked first
    (empty ids, unknown variants, bad or out-of-window times, a user given two variants, a user
    already exposed to another variant, a user outside the targeting segment on the hospital day
    of the exposure); any problem refuses the whole file, naming row, field
    and reason. Rows already stored are skipped, so importing twice adds nothing."""
    stored = get(ops, key)
    definition = stored.definition.definition()
    path = Path(path)
    table, first = _read_exposure_file(path)
    rows, problems = _check_rows(table, first, definition, ops.settings.tz)
    if not problems:
        with ops.state.connect() as conn:
            before = store.exposed_variants(conn, key, list(rows))
        problems = [
            RowProblem(
                r.row,
                "variant",
                f"该用户已曝光于 {before[u]!r}，不能改为 {r.variant!r}",
                f"user {u!r} was already exposed to {before[u]!r}, not {r.variant!r}",
            )
            for u, r in rows.items()
            if u in before and before[u] != r.variant
        ]
        if definition.segment:
            problems += _outside_segment(ops, definition, rows)
    if problems:
        raise _refused(path, problems)
    records = [
        {"experiment_key": key, "user_id": u, "variant": r.variant, "exposed_at": r.at}
        for u, r in rows.items()
    ]
    with store.writing(ops.state) as conn:
        inserted = store.insert_exposures(conn, records)
        ops.audit(
            "experiment.import_exposures",
            key,
            {"file": str(path.resolve()), "rows": table.num_rows, "inserted": len(inserted)},
            conn=conn,
        )
    by_variant: dict[str, int] = {}
    for r in inserted:
        by_variant[r["variant"]] = by_variant.get(r["variant"], 0) + 1
    return Imported(key, table.num_rows, len(inserted), len(rows) - len(inserted), by_variant)


@dataclass(frozen=True)
class _Row:
    row: int
    variant: str
    at: dt.datetime


def _outside_segment(
    ops: Ops, definition: ExperimentDefinition, rows: Mapping[str, _Row]
) -> list[RowProblem]:
    """A problem for each user not in the experiment's targeting segment on the hospital day
    of their exposure (the same check `expose` makes): exposures of users the experiment never
    targeted would bias its analysis."""
    by_day: dict[date, list[str]] = {}
    for user, r in rows.items():
        by_day.setdefault(r.at.astimezone(ops.settings.tz).date(), []).append(user)
    inside = _targeted(ops, definition, by_day)
    segment = definition.segment
    return [
        RowProblem(
            r.row,
            "user_id",
            f"用户 {user!r} 在 {r.at.astimezone(ops.settings.tz).date()} 不属于实验的目标人群 "
            f"{segment!r}",
            f"user {user!r} is not in the experiment's segment {segment!r} on "
            f"{r.at.astimezone(ops.settings.tz).date()}",
        )
        for user, r in sorted(rows.items(), key=lambda item: item[1].row)
        if user not in inside
    ]


EXPOSURE_COLUMNS = ("user_id", "variant", "exposed_at")


def _read_exposure_file(path: Path) -> tuple[pa.Table, int]:
    """The file as Arrow with every column as text (ids like 007 stay as written)."""
    import pyarrow as pa

    if not path.is_file():
        raise InputError(f"文件不存在 / file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            import pyarrow.parquet as pq

            table, first = pq.read_table(path), 1
        elif suffix in {".csv", ".txt"}:
            from pyarrow import csv

            with path.open(encoding="utf-8-sig", newline="") as f:
                import csv as pycsv

                header = next(pycsv.reader(f), [])
            table = csv.read_csv(
                path,
                convert_options=csv.ConvertOptions(
                    column_types={name: pa.string() for name in header}, strings_can_be_null=True
                ),
            )
            first = 2
        else:
            raise InputError(
                f"{path.name}: 未知文件类型 {suffix!r}，请用 .csv 或 .parquet / "
                f"unknown file kind {suffix!r}; give a .csv or .parquet file"
            )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"无法读取 {path.name} / cannot read {path}: {exc}") from None
    names = [n.lstrip("\ufeff").strip() for n in table.column_names]
    table = table.rename_columns(names)
    missing = [c for c in EXPOSURE_COLUMNS if c not in names]
    if missing:
        raise InputError(
            f"{path.name}：缺少列 {', '.join(missing)} / missing column(s) "
            f"{', '.join(missing)}; columns are {', '.join(names)} (need "
            f"{', '.join(EXPOSURE_COLUMNS)})"
        )
    return table, first


def _check_rows(
    table: pa.Table, first: int, definition: ExperimentDefinition, tz: dt.tzinfo
) -> tuple[dict[str, _Row], list[RowProblem]]:
    """Each user's row (a user listed twice with the same variant keeps the earliest time) and
    every problem found."""
    variants = list(definition.weights)
    known = ", ".join(variants)
    rows: dict[str, _Row] = {}
    problems: list[RowProblem] = []
    users = table.column("user_id").to_pylist()
    names = table.column("variant").to_pylist()
    times = table.column("exposed_at").to_pylist()
    for i, (user, variant, when) in enumerate(zip(users, names, times, strict=True)):
        n = first + i
        user = "" if user is None else str(user).strip()
        variant = "" if variant is None else str(variant).strip()
        bad = len(problems)
        if not user:
            problems.append(RowProblem(n, "user_id", "为空", "is empty"))
        elif len(user) > 128:
            problems.append(
                RowProblem(n, "user_id", "超过 128 个字符", "is longer than 128 characters")
            )
        if variant not in variants:
            problems.append(
                RowProblem(
                    n,
                    "variant",
                    f"未知组别 {variant!r}（已有：{known}）",
                    f"unknown variant {variant!r} (variants: {known})",
                )
            )
        at = _instant(when, tz)
        if at is None:
            problems.append(
                RowProblem(
                    n,
                    "exposed_at",
                    f"{when!r} 不是时间，请写 2026-01-05T08:00:00+08:00",
                    f"{when!r} is not a date-time; write 2026-01-05T08:00:00+08:00",
                )
            )
        elif not definition.is_running(at):
            problems.append(
                RowProblem(
                    n,
                    "exposed_at",
                    f"{at.isoformat()} 不在实验时间窗内",
                    f"{at.isoformat()} is outside the experiment's window "
                    f"({definition.start} – {definition.end})",
                )
            )
        if len(problems) > bad or at is None:
            continue
        seen = rows.get(user)
        if seen is not None and seen.variant != variant:
            problems.append(
                RowProblem(
                    n,
                    "variant",
                    f"用户 {user!r} 在第 {seen.row} 行是 {seen.variant!r}，这里是 {variant!r}",
                    f"user {user!r} is {seen.variant!r} in row {seen.row} and {variant!r} here",
                )
            )
        elif seen is None or at < seen.at:
            rows[user] = _Row(n, variant, at)
    return rows, problems


def _instant(value: object, tz: dt.tzinfo) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(dt.UTC)


def _refused(path: Path, problems: list[RowProblem]) -> InputError:
    listed = "\n".join(str(p) for p in problems[:MAX_LISTED_ERRORS])
    more = len(problems) - MAX_LISTED_ERRORS
    tail = f"\n… 另有 {more} 个问题 / … {more} more problem(s)" if more > 0 else ""
    return InputError(
        f"{path.name}：{len(problems)} 个问题，未导入任何曝光 / {len(problems)} "
        f"problem(s), nothing imported:\n{listed}{tail}"
    )


# --- analysis ------------------------------------------------------------------------------


def analyze_stored(
    ops: Ops,
    key: str,
    metrics: list[str] | None = None,
    *,
    as_of: date | None = None,
    **options: Any,
) -> ExperimentOutcome:
    """Analyse a stored experiment over its exposures and registry metrics
    (`careops.experiments.measure.analyze_stored`: options cuped, control, correction, lang,
    frequentist, bayesian, srm_p)."""
    from careops.experiments.measure import analyze_stored as measure
    from careops.experiments.measure import experiment_metric

    for name in metrics or ():
        experiment_metric(name)  # unknown or unusable metrics fail before connecting
    with ops.warehouse(read_only=True) as con:
        return measure(con, ops.state, key, metrics, as_of=as_of, **options)


def analyze_warehouse_table(
    ops: Ops,
    table: str,
    variant_col: str,
    metric_col: str,
    covariate_col: str | None = None,
    **options: Any,
) -> Analysis:
    """Analyse a per-user table in the warehouse (one row per user)."""
    from careops.experiments.analyze import analyze_warehouse_table as analyze

    with ops.warehouse(read_only=True) as con:
        return analyze(con, table, variant_col, metric_col, covariate_col, **options)


def read_exposures(ops: Ops, key: str) -> pa.Table:
    """An experiment's exposures as Arrow."""
    get(ops, key)
    return store.read_exposures(ops.state, key)
