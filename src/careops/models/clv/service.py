"""CLV capabilities as services (`f(ops, typed args) -> typed result`) for the CLI, the API and
the cockpit: fit on a transaction file, score the warehouse (read-only)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from careops.asof import today
from careops.models.clv.fit import FitReport, Unit, fit_log
from careops.models.clv.score import ClvScores, Origin, score_clv
from careops.models.clv.segmented import SegmentBy
from careops.models.clv.transactions import read_log
from careops.service import Ops


def fit_file(
    ops: Ops,
    path: Path | str,
    *,
    customer_col: str,
    date_col: str,
    calibration_end: date,
    amount_col: str | None = None,
    date_format: str | None = None,
    holdout_end: date | None = None,
    unit: Unit = "week",
) -> FitReport:
    """BG/NBD (and Gamma-Gamma with amounts) on a CSV/Parquet transaction log."""
    now = today(ops.settings)
    log = read_log(
        path,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        date_format=date_format,
        today=now,
    )
    return fit_log(
        log, calibration_end=calibration_end, holdout_end=holdout_end, unit=unit, today=now
    )


def score(
    ops: Ops,
    as_of: date,
    *,
    horizon_days: int = 365,
    origin: Origin = "registration",
    discount_rate: float = 0.0,
    segment_by: SegmentBy = "none",
    out: Path | None = None,
    store: bool = False,
) -> ClvScores:
    """Predicted value of every patient as of `as_of`; with `out`, the per-patient table is
    written (CSV or Parquet) and the export audited — no file leaves without its audit row.
    With `store` the values become the smart tags `predicted_ltv` / `ltv_tier_predicted` as
    of that day (`careops.tags.smart`; needs `tags.compute`)."""
    from careops.io import write_table
    from careops.models.clv.score import check_options

    ops.require("models.read")
    check_options(horizon_days, discount_rate, origin, segment_by)
    with ops.warehouse(read_only=True) as con:
        result = score_clv(
            con,
            as_of,
            horizon_days=horizon_days,
            origin=origin,
            discount_rate=discount_rate,
            segment_by=segment_by,
            settings=ops.settings,
        )
    if store:
        _store(ops, result)
    if out is not None:
        out = Path(out)
        write_table(result.table, out)
        try:
            ops.audit(
                "clv.score.export",
                str(out.resolve()),
                {
                    "as_of": as_of.isoformat(),
                    "horizon_days": horizon_days,
                    "origin": origin,
                    "segment_by": segment_by,
                    "rows": result.table.num_rows,
                },
            )
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    return result


def _store(ops: Ops, result: ClvScores) -> None:
    """The predicted values as smart tags of their day, audited."""
    from careops.tags.smart import store_scores

    ops.require("tags.compute")
    t = result.table
    tags = t.append_column("predicted_ltv", t.column("predicted_value")).append_column(
        "ltv_tier_predicted", t.column("ltv_tier")
    )
    with ops.warehouse(existing=True) as con:
        name = store_scores(con, "clv", result.as_of, tags)
    ops.audit(
        "clv.score.store",
        name,
        {
            "as_of": result.as_of.isoformat(),
            "horizon_days": result.horizon_days,
            "rows": t.num_rows,
        },
    )
