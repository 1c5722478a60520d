"""The report as a service: its data (codes and numbers) as of a date, for the HTML report,
the API and the cockpit, each rendering it in its own language."""

from __future__ import annotations

from datetime import date

from careops.report.build import ReportData
from careops.service import Ops


def report_data(ops: Ops, as_of: date, by: str = "channel") -> ReportData:
    """Every KPI, the funnel, cohorts and breakdowns of the report as of `as_of`; `by` is the
    layer of the breakdown charts. Reads the warehouse only."""
    from careops.report.build import build_report

    with ops.warehouse(read_only=True) as con:
        return build_report(con, as_of, by=by)
