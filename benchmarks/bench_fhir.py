"""FHIR door throughput: resources staged per second from a Bundle and from bulk NDJSON.

The input is ~50k resources made by copying the Synthea-shaped fixture Bundle
(tests/data/fhir/synthea_transaction.json, 13 entries: Patient, Encounters, Condition, allergy,
BP panel, weight, smoking status, MedicationRequest, Immunization, Procedure, Claim, EOB) with
fresh ids. Writes benchmarks/results/fhir_ingest.json.

    python benchmarks/bench_fhir.py [--resources 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from careops.ingest.fhir import read_fhir

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tests" / "data" / "fhir" / "synthea_transaction.json"
PREFIX = "7f3c2a10-5b1e-4c2d-9e8f-0a1b2c3d4e"


def make_entries(n_resources: int) -> list[dict]:
    text = TEMPLATE.read_text(encoding="utf-8")
    per_copy = len(json.loads(text)["entry"])
    entries: list[dict] = []
    for i in range(-(-n_resources // per_copy)):
        entries.extend(
            json.loads(text.replace(PREFIX, f"{i:08x}-0000-4000-8000-0000{i:06x}"))["entry"]
        )
    return entries[:n_resources]


def best_of(repeat: int, path: Path) -> tuple[float, float, int, int]:
    """Best wall and CPU seconds of `repeat` reads (CPU time is steadier on a shared machine)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        staged = read_fhir(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    rows = sum(t.num_rows for t in staged.tables.values())
    return min(walls), min(cpus), staged.records, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    entries = make_entries(args.resources)
    read_fhir(TEMPLATE)  # warm-up: pyarrow imports pandas lazily on its first conversion
    results: dict[str, object] = {
        "resources": len(entries),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle.json"
        bundle.write_text(
            json.dumps(
                {"resourceType": "Bundle", "type": "transaction", "entry": entries}, indent=1
            ),
            encoding="utf-8",
        )
        bulk = Path(tmp) / "bulk"
        bulk.mkdir()
        by_type: dict[str, list[str]] = defaultdict(list)
        for e in entries:
            r = e["resource"]
            by_type[r["resourceType"]].append(json.dumps(r, separators=(",", ":")))
        for rtype, lines in by_type.items():
            (bulk / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, path in (("bundle_json", bundle), ("bulk_ndjson", bulk)):
            seconds, cpu, records, rows = best_of(args.repeat, path)
            results[name] = {
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                "records": records,
                "staged_rows": rows,
                "resources_per_s": round(records / seconds),
                "resources_per_cpu_s": round(records / cpu),
                "mb": round(
                    sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
                    / 1e6,
                    1,
                ),
            }
    out = ROOT / "benchmarks" / "results" / "fhir_ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
