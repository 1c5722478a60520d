"""Recommendations as services (`f(ops, typed args) -> typed result`) for the CLI, the API and
the cockpit: train and register a model, recommend for one patient or all, evaluate."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from careops.asof import AsOf
from careops.errors import InvalidInput, NotFound
from careops.models.recommend import data
from careops.models.recommend.evaluate import Evaluation, evaluate_split, tune_blend
from careops.models.recommend.model import (
    FORMAT_VERSION,
    KIND,
    RecModel,
    segment_of,
    segment_popularity,
    top_n,
)
from careops.models.recommend.rank import Ranked, candidates, rank
from careops.models.recommend.rules import Patients, Rules, load_rules
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

LIBRARIES = ("implicit", "scipy")


def registry(ops: Ops) -> Registry:
    return Registry(registry_dir(ops.warehouse_url, ops.settings))


def _params(ops: Ops) -> dict[str, Any]:
    m = ops.settings.models
    return {
        "factors": m.rec_factors,
        "iterations": m.rec_iterations,
        "regularization": m.rec_regularization,
        "alpha": m.rec_alpha,
        "seed": m.rec_seed,
        "popularity_days": m.rec_popularity_days,
        "weights": data.WEIGHTS,
    }


def fit(con, as_of: dt.date, ops: Ops) -> tuple[RecModel, dict[str, int]]:
    """A model from the facts before `as_of` (no registry)."""
    settings = ops.settings
    items = data.load_items(con)
    patients = data.load_patients(con, as_of, settings)
    since = as_of - dt.timedelta(days=settings.models.rec_popularity_days)
    hist = data.interactions(con, as_of, settings, items, recent_since=since)
    if hist.num_rows == 0 or len(patients) == 0:
        raise InvalidInput(
            f"{as_of} 之前没有互动数据, 无法训练 / no interactions before {as_of} (views, "
            "consultations, orders of catalogue items): nothing to train on",
            field="as_of",
        )
    m = data.to_matrix(hist, items, patients.user_id).weights
    recent = data.to_matrix(hist, items, patients.user_id, value="recent").weights
    pop = segment_popularity(recent, segment_of(patients.age, patients.sex))
    rows = np.diff(m.indptr) > 0
    model = RecModel.fit(m[rows], items.key, pop, _params(ops))
    stats = {"patients": int(rows.sum()), "items": len(items), "interactions": int(m.nnz)}
    return model, stats


def train(ops: Ops, as_of: dt.date) -> ModelMeta:
    """Train on the facts before `as_of`, check it on the last `rec_eval_days` before it (a
    second fit on the facts before that: the validation window), choose there each kind's
    popularity blend weight (`evaluate.tune_blend`), and register it. The holdout figures are
    those of the validation window the weights were chosen on; `evaluate` after the date is
    the honest test."""
    ops.require("tags.compute")
    reg = registry(ops)
    rules = load_rules()
    days = ops.settings.models.rec_eval_days
    with ops.warehouse(read_only=True) as con:
        frame = AsOf(con, as_of, ops.settings)
        frame.validate()
        model, stats = fit(con, as_of, ops)
        holdout: dict[str, Any] = {}
        early = as_of - dt.timedelta(days=days)
        try:
            early_model, _ = fit(con, early, ops)
            tuning = tune_blend(con, early_model, rules, early, ops.settings)
            model.params["blend"] = early_model.params["blend"] = tuning["weights"]
            ev = evaluate_split(con, early_model, "holdout", rules, early, ops.settings)
            holdout = ev.to_dict() | {"blend": tuning}
        except InvalidInput as exc:
            holdout = {"skipped": str(exc)}
        print_ = fingerprint(con, frame.cutoff, data.SOURCES)
    model_id, tmp = reg.new_folder(KIND, as_of)
    try:
        model.save(tmp)
        meta = ModelMeta(
            kind=KIND,
            model_id=model_id,
            format_version=FORMAT_VERSION,
            as_of=as_of.isoformat(),
            trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            fingerprint=print_,
            settings={**_params(ops), "timezone": ops.settings.timezone, "rules": rules.source},
            libraries=library_versions() | _versions(),
            evaluation={"data": stats, "holdout": holdout},
        )
        final = reg.commit(meta, tmp)
    except BaseException:
        reg.discard(tmp)
        raise
    ops.audit("recommend.train", str(final), {"as_of": as_of.isoformat(), "model_id": model_id})
    return meta


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def load(ops: Ops, as_of: dt.date, model_id: str | None = None) -> tuple[ModelMeta, RecModel]:
    """The model to use as of `as_of`, checked: kind, format, library versions, not later."""
    reg = registry(ops)
    meta = reg.show(model_id) if model_id else reg.latest(KIND, as_of)
    check_compatible(meta, KIND, FORMAT_VERSION)
    was, now = meta.libraries.get("implicit", "absent"), _versions()["implicit"]
    if was.split(".")[:2] != now.split(".")[:2]:
        from careops.models.registry import ModelError

        raise ModelError(
            f"模型 {meta.model_id} 由 implicit {was} 训练, 当前为 {now}, 请重新训练 / model "
            f"trained with implicit {was}, this installation has {now}: retrain"
        )
    check_usable(meta, as_of)
    return meta, RecModel.load(reg.folder(meta.model_id))


@dataclass(frozen=True)
class Recommendation:
    """One recommended item."""

    rank: int
    item_id: str
    kind: str
    name: str
    department: str
    reason: str
    source: str  # model (collaborative) or fallback (popularity and rules)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Recommendations:
    user_id: str
    as_of: dt.date
    model_id: str
    kind: str | None
    items: list[Recommendation]

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "as_of": self.as_of.isoformat(),
            "model_id": self.model_id,
            "kind": self.kind,
            "items": [i.to_dict() for i in self.items],
        }


def check_user_id(user_id: object) -> None:
    """A patient id: text of 1–200 characters, not blank, no control characters (a NUL byte
    cannot even reach the warehouse)."""
    if (
        not isinstance(user_id, str)
        or not user_id.strip()
        or len(user_id) > 200
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in user_id)
    ):
        raise InvalidInput(
            f"患者编号无效 {str(user_id)[:60]!r}: 应为 1–200 个字符, 不含控制字符 / invalid "
            "user id: 1–200 characters, no control characters",
            field="user_id",
        )


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in data.KINDS:
        raise InvalidInput(
            f"未知的推荐类型 {kind!r}, 应为 {'/'.join(data.KINDS)} / unknown kind {kind!r}: "
            f"expected one of {', '.join(data.KINDS)}",
            field="kind",
        )


def _check_top(top: int) -> None:
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 100:
        raise InvalidInput(
            f"推荐条数应为 1–100, 实际 {top!r} / top must be 1–100, got {top!r}", field="top"
        )


def recommend(
    ops: Ops,
    user_id: str,
    as_of: dt.date,
    *,
    kind: str | None = None,
    top: int = 10,
    model_id: str | None = None,
    rules: Rules | None = None,
) -> Recommendations:
    """The top `top` items for one patient as of `as_of` (their history before it), with a
    reason each; never an item the medical rules refuse them."""
    ops.require("models.read")
    _check_kind(kind)
    _check_top(top)
    check_user_id(user_id)
    rules = rules or load_rules()
    meta, model = load(ops, as_of, model_id)
    with ops.warehouse(read_only=True) as con:
        AsOf(con, as_of, ops.settings).validate()
        patients = data.load_patients(con, as_of, ops.settings, [user_id])
        if len(patients) == 0:
            raise NotFound(
                f"患者 {user_id[:60]!r} 不存在或在 {as_of} 前未注册 / no patient {user_id[:60]!r} "
                f"registered before {as_of}",
                field="user_id",
            )
        items = data.load_items(con)
        hist = _user_history(con, as_of, ops, [user_id], items)
    ranked = rank(model.align(items), items, rules, patients, hist, kind=kind, top=top)
    return Recommendations(user_id, as_of, meta.model_id, kind, _rows(ranked, items, 0))


def _user_history(con, as_of: dt.date, ops: Ops, users: list[str], items):
    """The patients' (sorted) interaction weights before `as_of`."""
    t = data.interactions(con, as_of, ops.settings, items, users=users)
    return data.to_matrix(t, items, np.asarray(sorted(users), dtype=object)).weights


def _rows(ranked: Ranked, items, u: int) -> list[Recommendation]:
    out = []
    for r, j in enumerate(x for x in ranked.index[u] if x >= 0):
        out.append(
            Recommendation(
                r + 1,
                str(items.item_id[j]),
                str(items.kind[j]),
                str(items.name[j]),
                str(items.department[j]),
                ranked.reasons[u][r],
                str(ranked.source[u]),
            )
        )
    return out


def evaluate(ops: Ops, as_of: dt.date, *, model_id: str | None = None) -> Evaluation:
    """Evaluate the model usable as of `as_of` on the `rec_eval_days` after it (see
    `careops.models.recommend.evaluate`); the report is kept in the model's folder."""
    import json

    ops.require("models.read")
    meta, model = load(ops, as_of, model_id)
    end = as_of + dt.timedelta(days=ops.settings.models.rec_eval_days)
    with ops.warehouse(read_only=True) as con:
        AsOf(con, end, ops.settings).validate()
        ev = evaluate_split(con, model, meta.model_id, load_rules(), as_of, ops.settings)
    folder = registry(ops).folder(meta.model_id)
    (folder / f"evaluation-{as_of.isoformat()}.json").write_text(
        json.dumps(ev.to_dict(), ensure_ascii=False, indent=1), "utf-8"
    )
    return ev


@dataclass
class AllRecommendations:
    """Every patient's top items (Arrow, one row per patient and item: user_id, rank, item_id,
    kind, name, reason, source) and timings of the steps."""

    as_of: dt.date
    model_id: str
    table: pa.Table
    seconds: dict[str, float]


def recommend_all(
    ops: Ops,
    as_of: dt.date,
    *,
    kind: str | None = None,
    top: int = 10,
    model_id: str | None = None,
    with_reasons: bool = True,
    chunk: int = 20_000,
    popularity_only: bool = False,
) -> AllRecommendations:
    """Recommendations for every patient registered before `as_of`, in chunks of patients
    (memory bounded by a chunk × items matrix). `popularity_only` ranks by popularity alone
    under the same rules (the baseline a benchmark compares with)."""
    import time

    ops.require("models.read")
    _check_kind(kind)
    _check_top(top)
    rules = load_rules()
    meta, model = load(ops, as_of, model_id)
    t0 = time.perf_counter()
    with ops.warehouse(read_only=True) as con:
        AsOf(con, as_of, ops.settings).validate()
        items = data.load_items(con)
        patients = data.load_patients(con, as_of, ops.settings)
        hist = data.to_matrix(
            data.interactions(con, as_of, ops.settings, items), items, patients.user_id
        ).weights
    model = model.align(items)
    t1 = time.perf_counter()
    parts = []
    for s in range(0, len(patients), chunk):
        sl = slice(s, s + chunk)
        p = patients.take(sl)
        h = hist[sl]
        if popularity_only:
            ok = candidates(items, rules, p, h, kind)
            pop = model.popularity.sum(axis=0)
            idx = top_n(np.broadcast_to(pop, ok.shape), ok, top)
            ranked = Ranked(idx, np.full(len(p), "popularity"))
        else:
            ranked = rank(model, items, rules, p, h, kind=kind, top=top, with_reasons=with_reasons)
        parts.append(_arrow(ranked, items, p))
    table = (
        pa.concat_tables(parts)
        if parts
        else _arrow(Ranked(np.zeros((0, top), int), np.array([])), items, patients)
    )
    t2 = time.perf_counter()
    return AllRecommendations(
        as_of, meta.model_id, table, {"read": round(t1 - t0, 2), "rank": round(t2 - t1, 2)}
    )


def _arrow(ranked: Ranked, items, patients: Patients) -> pa.Table:
    """One row per (patient, chosen item), gathered from Arrow arrays by integer codes."""
    import pyarrow.compute as pc

    idx = ranked.index
    u, r = np.nonzero(idx >= 0)
    j = idx[u, r]

    def take(values, at: np.ndarray) -> pa.Array:
        return pc.take(pa.array(list(values), pa.string()), pa.array(at, pa.int64()))

    if ranked.reason_code is not None:
        reason = take(ranked.vocabulary, ranked.reason_code[u, r])
    else:
        reason = pa.nulls(len(j), pa.string())
    return pa.table(
        {
            "user_id": take(patients.user_id, u),
            "rank": pa.array(r + 1, pa.int16()),
            "item_id": take(items.item_id, j),
            "kind": take(items.kind, j),
            "name": take(items.name, j),
            "reason": reason,
            "source": take(ranked.source, u),
        }
    )


def report(
    ops: Ops,
    as_of: dt.date,
    *,
    model_id: str | None = None,
    sample: int = 20_000,
    seed: int = 0,
):
    """The recommendation report as of `as_of` (`careops.models.recommend.report.RecReport`):
    coverage, quality per kind beside popularity, rule blocks, masked examples. Audited."""
    from careops.models.recommend.report import build

    ops.require("models.read")
    if isinstance(sample, bool) or not isinstance(sample, int) or not 100 <= sample <= 200_000:
        raise InvalidInput(
            f"抽样人数应为 100–200000, 实际 {sample!r} / sample must be 100–200000, got {sample!r}",
            field="sample",
        )
    meta, model = load(ops, as_of, model_id)
    with ops.warehouse(read_only=True) as con:
        AsOf(con, as_of, ops.settings).validate()
        rep = build(
            con,
            model,
            meta.model_id,
            meta.evaluation.get("holdout"),
            load_rules(),
            as_of,
            ops.settings,
            sample=sample,
            seed=seed,
        )
    ops.audit(
        "recommend.report",
        meta.model_id,
        {"as_of": as_of.isoformat(), "sample": rep.sample, "examples": len(rep.examples)},
    )
    return rep
