"""Benchmark smart triage: batch questions per second, one question's warm latency, load time —
against a plain keyword count measured in the same run.

Questions: the simulated hospital's complaints and searches (`careops.sim.vocab`, labelled by
the department that takes them), repeated to `--questions`; or a JSON Lines file of
`{"text", "department"}` (`--file`, with `--departments FILE`). Top-1 accuracy is reported for
both rankers on the distinct questions.

Baseline: for each department, count the knowledge-base words of its specialties that occur in
the text as plain substrings (no longest match, no negation, no synonyms of department names
beyond the exact specialty) and rank by that count.

    python benchmarks/bench_triage.py [--questions 5000] [--single 300] [--file F --departments D]

Writes benchmarks/results/triage.json (`careops bench triage`). Aims (issue 14): ≥ 200
questions/s in batch on 2 cores, ≤ 50 ms for one warm question, loaded in ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from careops.bench import measure, save

LOAD_CODE = """
import time
t = time.perf_counter()
from careops.triage.service import Triage
from careops.triage import catalogue
t_ = Triage(catalogue.default())
t_.ask("头痛、发热，三天了")
print(time.perf_counter() - t)
"""


def questions(path: str | None) -> list[tuple[str, str]]:
    if path:
        rows = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x]
        return [(r["text"], r["department"]) for r in rows]
    from careops.sim import vocab

    return [(t, d.name) for d in vocab.DEPARTMENTS.values() for t in (*d.complaints, *d.queries)]


def keyword_baseline(texts: list[str], departments: list[str]) -> list[list[tuple[str, float]]]:
    from careops.triage.catalogue import Department, build
    from careops.triage.kb import shipped

    kb = shipped()
    cat = build([Department(d) for d in departments])
    words: list[list[str]] = []
    for aff in cat.affinity:
        own = {s for s, w in aff.items() if w >= 0.5}
        words.append([t for c in kb.concepts if c.weights[0][0] in own for t in c.terms])
    out = []
    for text in texts:
        counts = [sum(1 for w in ws if w in text) for ws in words]
        order = sorted(range(len(departments)), key=lambda i: -counts[i])
        total = sum(counts) or 1
        out.append([(departments[i], counts[i] / total) for i in order])
    return out


def top1(ranked: list[list[tuple[str, float]]], gold: list[str]) -> float:
    return sum(r[0][0] == g for r, g in zip(ranked, gold, strict=True)) / len(gold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=5000)
    ap.add_argument("--single", type=int, default=300)
    ap.add_argument("--file", default=None)
    ap.add_argument("--departments", default=None)
    args = ap.parse_args()

    loads = []
    for _ in range(3):
        res = subprocess.run(
            [sys.executable, "-c", LOAD_CODE], capture_output=True, text=True, check=True
        )
        loads.append(float(res.stdout.strip().splitlines()[-1]))

    from careops.triage import catalogue as cat
    from careops.triage.service import Triage
    from careops.triage.zeroshot import rank_batch

    pairs = questions(args.file)
    if args.departments:
        depts = [
            x.split("\t")[0]
            for x in Path(args.departments).read_text(encoding="utf-8").splitlines()
            if x.strip()
        ]
    else:
        depts = sorted({d for _, d in pairs})
    texts = [t for t, _ in pairs]
    gold = [d for _, d in pairs]
    batch = (texts * (args.questions // len(texts) + 1))[: args.questions]

    rank_batch(texts[:5], depts)  # warm: catalogue built, knowledge base read
    run = measure(lambda: rank_batch(batch, depts))
    base = measure(lambda: keyword_baseline(batch, depts))
    acc = top1(rank_batch(texts, depts), gold)
    base_acc = top1(keyword_baseline(texts, depts), gold)

    triage = Triage(cat.default())
    triage.ask("热身")
    lat = []
    for i in range(args.single):
        t = time.perf_counter()
        triage.ask(texts[i % len(texts)])
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    qps = len(batch) / run.seconds
    base_qps = len(batch) / base.seconds
    result = {
        "data": {
            "source": args.file or "careops.sim.vocab complaints and searches",
            "distinct_questions": len(texts),
            "batch_questions": len(batch),
            "departments": len(depts),
        },
        "batch": {"seconds": round(run.seconds, 3), "questions_per_s": round(qps)},
        "single_warm_ms": {
            "p50": round(statistics.median(lat), 2),
            "p95": round(lat[int(0.95 * (len(lat) - 1))], 2),
            "max": round(lat[-1], 2),
            "what": "Triage.ask: red flags, ranking of the default catalogue (32), doctors",
        },
        "load_seconds": {
            "runs": [round(x, 2) for x in loads],
            "median": round(statistics.median(loads), 2),
        },
        "top1": round(acc, 4),
        "peak_rss_gb": run.peak_gb,
        "baseline": {
            "what": "keyword count: KB words of each department's specialties as substrings",
            "questions_per_s": round(base_qps),
            "top1": round(base_acc, 4),
        },
        "ratio_to_baseline": {
            "speed": round(qps / base_qps, 2),
            "top1": round(acc / max(base_acc, 1e-9), 2),
        },
        "aims": {"batch_qps": 200, "single_ms": 50, "load_s": 2},
        "meets_aims": qps >= 200 and statistics.median(lat) <= 50 and statistics.median(loads) <= 2,
    }
    path = save("triage", result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
