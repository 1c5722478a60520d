"""The HTML operations report: main metrics, funnel, cohorts and breakdowns with ECharts."""

from careops.report.build import ReportData, build_report
from careops.report.render import render_html, write_report

__all__ = ["ReportData", "build_report", "render_html", "write_report"]
