"""The churn-reason diagnosis as display tables (title, columns, rows) in the language asked
for: data (`diagnosis`) → these tables → the CLI shell; words from `careops.labels`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from careops.labels import label, value_label
from careops.models.churn.diagnosis import Breakdown, PatientReasons, ReasonsReport, TruthCheck
from careops.models.churn.drivers import DRIVERS


@dataclass(frozen=True)
class View:
    title: str
    columns: list[str]
    rows: list[list[Any]]


def driver_label(code: str, lang: str = "zh") -> str:
    return value_label("churn_driver", code, lang)


def breakdown_views(title_key: str, b: Breakdown, lang: str = "zh") -> list[View]:
    """Patients per driver (count, share, mean log-odds added), then the frequent phrases."""
    n = b.patients
    rows = [
        [
            driver_label(code, lang),
            b.counts[code],
            f"{b.counts[code] / n:.1%}" if n else "—",
            f"{b.mean_weight[code]:.3f}",
        ]
        for code in DRIVERS
    ]
    mean = "" if b.mean_score is None else f", churn_score {b.mean_score}"
    drivers = View(
        f"{label(title_key, lang)} (n = {n}{mean})",
        [
            label("churn.driver", lang),
            label("churn.patients", lang),
            label("churn.share", lang),
            label("churn.mean_logit", lang),
        ],
        rows,
    )
    phrases = View(
        label("churn.phrase", lang),
        [label("churn.reason", lang), label("churn.patients", lang)],
        [[text, k] for text, k in b.phrases],
    )
    return [drivers, phrases]


def truth_view(t: TruthCheck, lang: str = "zh") -> View:
    """Per true driver: patients and the share diagnosed alike; then overall and the baseline."""
    rows = [
        [driver_label(code, lang), row["patients"], f"{row['found']:.1%}"]
        for code, row in t.by_true_driver.items()
    ]
    if t.agreement is not None:
        rows.append(["= 总体 overall", t.patients, f"{t.agreement:.1%}"])
        rows.append(
            [
                f"基线: 总答 {driver_label(t.majority_driver or '', lang)} / majority baseline",
                t.patients,
                f"{t.majority_agreement:.1%}",
            ]
        )
    return View(
        f"{label('churn.truth', lang)} (未真正停止 not truly stopped: {t.not_truly_stopped})",
        [
            label("churn.true_driver", lang),
            label("churn.patients", lang),
            label("churn.found", lang),
        ],
        rows,
    )


def report_views(r: ReasonsReport, lang: str = "zh") -> list[View]:
    views = breakdown_views("churn.at_risk", r.at_risk, lang)
    if r.churned is not None:
        views += breakdown_views("churn.churned", r.churned, lang)
    if r.truth is not None:
        views.append(truth_view(r.truth, lang))
    return views


def patient_view(p: PatientReasons, lang: str = "zh") -> View:
    return View(
        f"{p.user_id}: churn_score {p.churn_score}, {label('churn.driver', lang)} "
        f"{driver_label(p.driver, lang)} (as of {p.as_of}, {p.model_id})",
        [
            label("churn.feature", lang),
            label("churn.driver", lang),
            label("churn.contribution", lang),
            label("churn.value", lang),
            label("churn.reason", lang),
        ],
        [
            [
                i.feature,
                driver_label(i.driver, lang),
                f"{i.contribution:+.3f}",
                "—" if i.value is None else i.value,
                i.text or "—",
            ]
            for i in p.items
        ],
    )
