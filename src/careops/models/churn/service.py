"""Churn capabilities as services (`f(ops, typed args) -> typed result`) for the CLI, the API
and the cockpit: train and register a model, score patients, evaluate a registered model."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from careops.asof import AsOf
from careops.models.churn.diagnosis import PatientReasons, ReasonsReport
from careops.models.churn.evaluate import Evaluation, population
from careops.models.churn.evaluate import evaluate as run_evaluation
from careops.models.churn.model import FORMAT_VERSION, KIND, PARAMS, ChurnModel, fold_report
from careops.models.churn.model import train as fit_model
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

#: the tables churn features and labels read, with their time column (the data fingerprint)
SOURCES = {
    "patients": "registered_at",
    "events": "ts",
    "consultations": "started_at",
    "orders": "ts",
    "tickets": "ts",
    "surveys": "ts",
    "enrollments": "start_at",
    "entitlement_usage": "ts",
    "conditions": "onset_at",
    "prescriptions": "ts",
}


def registry(ops: Ops) -> Registry:
    return Registry(registry_dir(ops.warehouse_url, ops.settings))


def train(ops: Ops, as_of: dt.date) -> ModelMeta:
    """Train a churn model from facts before `as_of` and register it."""
    ops.require("tags.compute")
    reg = registry(ops)
    with ops.warehouse(read_only=True) as con:
        model, snaps = fit_model(con, as_of, ops.settings)
        cutoff = AsOf(con, as_of, ops.settings).cutoff
        print_ = fingerprint(con, cutoff, SOURCES)
    calibration = fold_report(model, snaps[0])
    m = ops.settings.models
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
            settings={
                "horizon_days": m.churn_horizon_days,
                "confirm_days": m.churn_confirm_days,
                "snapshots": m.churn_snapshots,
                "step_days": m.churn_step_days,
                "seed": m.churn_seed,
                "first_reply_sla_s": ops.settings.metrics.first_reply_sla_s,
                "churned_min_days": ops.settings.lifecycle.churned_min_days,
                "timezone": ops.settings.timezone,
                "lightgbm": PARAMS,
            },
            libraries=library_versions(),
            evaluation={
                "calibration_fold": {k: v.to_dict() for k, v in calibration.items()},
                **model.diagnostics,
            },
        )
        final = reg.commit(meta, tmp)
    except BaseException:
        reg.discard(tmp)
        raise
    ops.audit("churn.train", str(final), {"as_of": as_of.isoformat(), "model_id": model_id})
    return meta


def load(ops: Ops, as_of: dt.date, model_id: str | None) -> tuple[ModelMeta, ChurnModel]:
    """The model to use as of `as_of` (`model_id`, else the newest trained as of it or
    earlier), checked: same format and library versions, not trained on later data."""
    reg = registry(ops)
    meta = reg.show(model_id) if model_id else reg.latest(KIND, as_of)
    check_compatible(meta, KIND, FORMAT_VERSION)
    check_usable(meta, as_of)
    return meta, ChurnModel.load(reg.folder(meta.model_id), meta.as_of_date)


@dataclass
class ChurnScores:
    """Per-patient scores (Arrow: user_id, churn_score, churn_probability, reasons)."""

    as_of: dt.date
    model_id: str
    table: pa.Table

    def summary(self) -> dict[str, Any]:
        s = self.table.column("churn_score").to_numpy()
        bands = {
            "high(>=80)": int((s >= 80).sum()),
            "mid(50-79)": int(((s >= 50) & (s < 80)).sum()),
            "low(<50)": int((s < 50).sum()),
        }
        return {
            "as_of": self.as_of.isoformat(),
            "model_id": self.model_id,
            "patients": self.table.num_rows,
            "mean_probability": round(
                float(self.table.column("churn_probability").to_numpy().mean()), 4
            )
            if self.table.num_rows
            else None,
            "bands": bands,
        }


def score_frame(model: ChurnModel, f) -> pa.Table:
    """user_id, churn_score, churn_probability, reasons (the top 3 phrases) and churn_driver
    (`drivers.DRIVERS`), from one contribution pass."""
    p, reasons, drivers = model.explain_drivers(f)
    return pa.table(
        {
            "user_id": pa.array(f.user_id.tolist(), pa.string()),
            "churn_score": pa.array(np.rint(p * 100).astype(np.int16)),
            "churn_probability": pa.array(np.round(p, 4)),
            "reasons": pa.array(["; ".join(r) for r in reasons], pa.string()),
            "churn_driver": pa.array(drivers.driver.tolist(), pa.string()),
        }
    )


def score(
    ops: Ops,
    as_of: dt.date,
    *,
    model_id: str | None = None,
    out: Path | None = None,
    store: bool = False,
) -> ChurnScores:
    """Score every patient still a user as of `as_of`; with `out` the table is written
    (CSV or Parquet) and the export audited — no file leaves without its audit row. With
    `store` the scores become the smart tags `churn_score` / `churn_reasons` as of that day
    (`careops.tags.smart`; needs `tags.compute`)."""
    from careops.io import write_table

    ops.require("models.read")
    meta, model = load(ops, as_of, model_id)
    with ops.warehouse(read_only=True) as con:
        AsOf(con, as_of, ops.settings).validate()
        f = population(con, as_of, ops.settings)
    result = ChurnScores(as_of, meta.model_id, score_frame(model, f))
    if store:
        _store(ops, result)
    if out is not None:
        out = Path(out)
        write_table(result.table, out)
        try:
            ops.audit(
                "churn.score.export",
                str(out.resolve()),
                {"as_of": as_of.isoformat(), "model_id": meta.model_id, "rows": len(f)},
            )
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    return result


def _store(ops: Ops, result: ChurnScores) -> None:
    """The scores as smart tags of their day, audited."""
    from careops.tags.smart import store_scores

    ops.require("tags.compute")
    t = result.table
    with ops.warehouse(existing=True) as con:
        name = store_scores(
            con, "churn", result.as_of, t.append_column("churn_reasons", t.column("reasons"))
        )
    ops.audit(
        "churn.score.store",
        name,
        {"as_of": result.as_of.isoformat(), "model_id": result.model_id, "rows": t.num_rows},
    )


def evaluate(
    ops: Ops,
    as_of: dt.date,
    *,
    model_id: str | None = None,
    sim_dir: Path | None = None,
    out: Path | None = None,
) -> Evaluation:
    """Evaluate a registered model as of `as_of` (see `careops.models.churn.evaluate`); the
    report is also kept in the model's folder (`evaluation-<as_of>.json`) and, with `out`,
    written there (JSON, plus the same name with .html: the curves as a zh-CN page)."""
    from careops.models.churn.evaluate import write_report

    ops.require("models.read")
    meta, model = load(ops, as_of, model_id)
    with ops.warehouse(read_only=True) as con:
        ev = run_evaluation(con, model, meta.model_id, as_of, ops.settings, sim_dir)
    folder = registry(ops).folder(meta.model_id)
    write_report(ev, folder / f"evaluation-{as_of.isoformat()}.json")
    if out is not None:
        from careops.models.churn.report import write_html

        write_report(ev, Path(out))
        write_html(ev, Path(out).with_suffix(".html"))
    return ev


def list_models(ops: Ops, kind: str | None = None) -> list[ModelMeta]:
    ops.require("models.read")
    return registry(ops).list(kind)


def show_model(ops: Ops, model_id: str) -> ModelMeta:
    ops.require("models.read")
    return registry(ops).show(model_id)


def patient_reasons(
    ops: Ops, as_of: dt.date, user_id: str, *, model_id: str | None = None, top: int = 5
) -> PatientReasons:
    """One patient's churn score, driver and largest contributions as of `as_of`
    (`diagnosis.explain_patient`). Needs `models.read` and the right to look at that patient
    (`privacy.access`: operations any, doctors their department's, health managers their
    assigned patients; analysts none one by one); audited."""
    from careops.models.churn.diagnosis import explain_patient
    from careops.privacy.access import check_patient_access

    ops.require("models.read")
    with ops.warehouse(read_only=True) as con:
        check_patient_access(ops, user_id, "patients.portrait", con)
        AsOf(con, as_of, ops.settings).validate()
        meta, model = load(ops, as_of, model_id)
        result = explain_patient(con, model, meta.model_id, as_of, user_id, ops.settings, top=top)
    ops.audit(
        "churn.reasons.patient",
        user_id,
        {"as_of": as_of.isoformat(), "model_id": meta.model_id},
        subject=user_id,
    )
    return result


def reasons_report(
    ops: Ops,
    as_of: dt.date,
    *,
    model_id: str | None = None,
    min_score: int = 50,
    weeks: int = 4,
    sim_dir: Path | None = None,
    out: Path | None = None,
) -> ReasonsReport:
    """The churn-reason diagnosis as of `as_of` (`diagnosis.diagnose`): drivers of the at-risk
    patients and of those who went quiet, with the simulator's truth when `sim_dir` is given;
    with `out` also written as JSON. Counts only, no patient ids; audited."""
    from careops.models.churn.diagnosis import diagnose

    ops.require("models.read")
    meta, model = load(ops, as_of, model_id)
    with ops.warehouse(read_only=True) as con:
        report = diagnose(
            con,
            model,
            meta.model_id,
            as_of,
            ops.settings,
            min_score=min_score,
            weeks=weeks,
            sim_dir=sim_dir,
        )
    if out is not None:
        Path(out).write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1), "utf-8")
    ops.audit(
        "churn.reasons.report",
        str(Path(out).resolve()) if out is not None else "population",
        {"as_of": as_of.isoformat(), "model_id": meta.model_id, "min_score": min_score},
    )
    return report
