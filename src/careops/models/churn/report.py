"""The evaluation as a zh-CN HTML page: the numbers beside each predictor and the reliability
curves (ECharts, vendored and inlined: the page works offline on a hospital intranet)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from careops.models.churn.evaluate import Evaluation
from careops.report.render import _asset, script_json

NAMES = {"model": "模型 model", "baseline_recency": "仅看最近活跃 recency", "oracle": "真值 oracle"}
SECTIONS = {"observed": "可观察标签 / observed label", "truth": "模拟器真值 / simulator truth"}


def _f(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def render(ev: Evaluation) -> str:
    tables, charts = [], []
    for key, title in SECTIONS.items():
        cards = getattr(ev, key)
        if not cards:
            continue
        rows = "".join(
            f"<tr><td>{escape(NAMES.get(k, k))}</td><td>{c.n}</td><td>{_f(c.base_rate)}</td>"
            f"<td>{_f(c.auc)}</td><td>{_f(c.pr_auc)}</td><td>{_f(c.ece)}</td>"
            f"<td>{_f(c.top_decile_lift, 2)}</td></tr>"
            for k, c in cards.items()
        )
        tables.append(
            f"<h2>{escape(title)}</h2><table><tr><th></th><th>人数 n</th><th>流失率</th>"
            f"<th>AUC</th><th>PR-AUC</th><th>ECE</th><th>前10%提升</th></tr>{rows}</table>"
            f'<div class="chart" id="c_{key}"></div>'
        )
        charts.append(
            {
                "id": f"c_{key}",
                "title": f"可靠性曲线 / reliability — {title}",
                "series": [
                    {"name": NAMES.get(k, k), "data": [[b[0], b[1]] for b in c.reliability]}
                    for k, c in cards.items()
                    if c.reliability
                ],
            }
        )
    notes = "".join(f"<li>{escape(n)}</li>" for n in ev.notes)
    js = _asset("static/echarts.min.js").replace("</script", "<\\/script")
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>流失模型评估 {escape(ev.as_of.isoformat())}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}.chart{{width:640px;height:400px}}
</style><script>{js}</script></head><body>
<h1>流失模型评估 / churn evaluation</h1>
<p>截至 {escape(ev.as_of.isoformat())} · 模型 {escape(ev.model_id)} · {ev.horizon_days} 天内流失 ·
{ev.patients} 位在用患者</p>{"".join(tables)}<ul>{notes}</ul>
<script>
const charts = {script_json(charts)};
for (const c of charts) {{
  echarts.init(document.getElementById(c.id)).setOption({{
    title: {{text: c.title, textStyle: {{fontSize: 13}}}},
    tooltip: {{trigger: "item"}}, legend: {{bottom: 0}},
    xAxis: {{type: "value", min: 0, max: 1, name: "预测概率"}},
    yAxis: {{type: "value", min: 0, max: 1, name: "实际流失率"}},
    series: [{{name: "理想 ideal", type: "line", data: [[0, 0], [1, 1]],
               lineStyle: {{type: "dashed"}}, symbol: "none"}}]
      .concat(c.series.map(s => ({{name: s.name, type: "line", data: s.data}})))
  }});
}}
</script></body></html>"""


def write_html(ev: Evaluation, path: Path) -> Path:
    path.write_text(render(ev), "utf-8")
    return path
