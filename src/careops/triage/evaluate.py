"""Triage evaluation: any ranker scored on a labelled set of patient questions.

A ranker takes a batch of texts and the catalogue's department names and returns, per text,
(department, score) pairs best first (`Ranker`). `evaluate` calls it once on the whole set and
reports top-1, top-3, recall per department (top-1 recall; macro recall is their unweighted
mean), a confusion table (true → first choice) and throughput (questions per second over the
one batch call, model loading excluded).

A set is JSON Lines of `{"text": ..., "department": ...}` (`read_set`): a line that is not JSON,
not an object, lacks a text or a department, or names a department outside the catalogue is a
`LineProblem` (line number, reason) and the other lines are evaluated; an empty file, or one
with no usable line, is refused. The catalogue is a text file, one department per line,
optionally `名称<TAB>描述` (`read_catalogue`); without one, the set's own labels.

`RANKERS` names the rankers a shell can pick: `majority` (the set's most frequent departments
first, whatever the text: the baseline any model must beat), `supervised` (the registered
model, `careops.triage.supervised`), `zero_shot` (`careops.triage.zeroshot.rank_batch`, when
that module is installed) and `blend` (supervised and zero-shot fused by `blend`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from careops.errors import InvalidInput, NotFound

Ranker = Callable[[Sequence[str], Sequence[str]], list[list[tuple[str, float]]]]
BlendMethod = Literal["score", "rank"]
#: reciprocal-rank fusion constant (Cormack et al. 2009)
RRF_K = 60
#: the largest set or catalogue file read
MAX_BYTES = 50_000_000
MAX_TEXT = 10_000
SHIPPED = ("general", "internal_medicine")


# -- reading -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineProblem:
    """A line of a file that was not used: its number (from 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class Question:
    line: int
    text: str
    department: str


@dataclass
class EvalSet:
    """The usable questions of a file, the catalogue they are scored on, the lines left out."""

    questions: list[Question]
    departments: list[str]
    problems: list[LineProblem] = field(default_factory=list)


def _read_text(path: Path, what: str) -> str:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(
                f"{what} {path.name} 超过 {MAX_BYTES // 1_000_000} MB / {what} file is larger "
                f"than {MAX_BYTES // 1_000_000} MB",
                field="file",
            )
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise NotFound(f"找不到文件 / no such file: {path}", field="file") from None
    except IsADirectoryError:
        raise InvalidInput(
            f"这是目录不是文件 / a folder, not a file: {path}", field="file"
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name} 不是 UTF-8 文本 (字节 {exc.start}) / not UTF-8 text (byte {exc.start})",
            field="file",
        ) from None


def _lines(text: str) -> list[str]:
    """Lines split at \\n only (a U+2028 or U+0085 inside a JSON string is not a line end)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_catalogue(text: str) -> list[str]:
    """Department names, one a line, `名称<TAB>描述` allowed; blank lines skipped; a name given
    twice, an over-long name or an empty catalogue refused (naming the line)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(_lines(text), 1):
        name = raw.split("\t", 1)[0].strip()
        if not name:
            continue
        if len(name) > 100:
            raise InvalidInput(
                f"科室目录第 {n} 行: 名称超过 100 字 / catalogue line {n}: name longer than 100 "
                "characters",
                field="departments",
            )
        if name in seen:
            raise InvalidInput(
                f"科室目录第 {n} 行: {name!r} 与第 {seen[name]} 行重复 / catalogue line {n}: "
                f"{name!r} already on line {seen[name]}",
                field="departments",
            )
        seen[name] = n
        names.append(name)
    if not names:
        raise InvalidInput(
            "科室目录为空 / the department catalogue is empty: one name per line",
            field="departments",
        )
    return names


def read_catalogue(path: Path) -> list[str]:
    return parse_catalogue(_read_text(path, "catalogue"))


def parse_set(text: str, departments: Sequence[str] | None = None) -> EvalSet:
    """The questions of a JSON Lines text (see the module docstring)."""
    questions: list[Question] = []
    problems: list[LineProblem] = []
    catalogue = set(departments) if departments is not None else None
    lines = _lines(text)
    if not any(line.strip() for line in lines):
        raise InvalidInput(
            '评估集为空 / the evaluation set is empty: one {"text", "department"} per line',
            field="file",
        )
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as exc:
            problems.append(LineProblem(n, f"不是 JSON / not JSON: {str(exc)[:80]}"))
            continue
        if not isinstance(row, dict):
            problems.append(LineProblem(n, "不是 JSON 对象 / not a JSON object"))
            continue
        text_, dept = row.get("text"), row.get("department")
        if not isinstance(text_, str) or not text_.strip():
            problems.append(LineProblem(n, "缺少文本 / text missing or empty"))
            continue
        if not isinstance(dept, str) or not dept.strip():
            problems.append(LineProblem(n, "缺少科室 / department missing or empty"))
            continue
        dept = dept.strip()
        if catalogue is not None and dept not in catalogue:
            problems.append(
                LineProblem(n, f"科室不在目录中 / department not in the catalogue: {dept[:40]!r}")
            )
            continue
        questions.append(Question(n, text_[:MAX_TEXT], dept))
    if not questions:
        raise InvalidInput(
            f"评估集没有可用的行 ({len(problems)} 行有问题, 第一处: 第 {problems[0].line} 行 "
            f"{problems[0].reason}) / no usable line in the evaluation set",
            field="file",
        )
    cat = (
        list(departments) if departments is not None else sorted({q.department for q in questions})
    )
    return EvalSet(questions, cat, problems)


def read_set(path: Path, departments: Sequence[str] | None = None) -> EvalSet:
    return parse_set(_read_text(path, "set"), departments)


def shipped_set(name: str) -> EvalSet:
    """One of the evaluation sets shipped with CareOps (`general`, `internal_medicine`) with its
    catalogue."""
    if name not in SHIPPED:
        raise NotFound(f"没有评估集 {name!r} / no shipped set {name!r}; one of {SHIPPED}")
    base = resources.files("careops.triage") / "data" / "eval"
    cat = parse_catalogue((base / f"{name}_departments.txt").read_text("utf-8"))
    return parse_set((base / f"{name}.jsonl").read_text("utf-8"), cat)


# -- scoring -----------------------------------------------------------------------------------
@dataclass
class EvalReport:
    """How a ranker did on a set (fractions in 0–1; `per_department[d]`: n, recall, top3)."""

    ranker: str
    n: int
    departments: list[str]
    top1: float
    top3: float
    macro_recall: float
    majority_share: float
    per_department: dict[str, dict[str, float | int]]
    confusion: dict[str, dict[str, int]]
    seconds: float
    #: questions per second of the one batch call (None for a cross-validation: fits included)
    throughput_qps: float | None
    problems: list[LineProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(
    ranked: list[list[tuple[str, float]]], truth: Sequence[str], departments: Sequence[str]
) -> dict[str, Any]:
    """Top-1, top-3, per-department recall, macro recall and the confusion table of rankings."""
    if len(ranked) != len(truth):
        raise ValueError(f"ranker answered {len(ranked)} rankings for {len(truth)} texts")
    first = [r[0][0] if r else "" for r in ranked]
    t1 = np.array([f == t for f, t in zip(first, truth, strict=True)])
    t3 = np.array([t in [d for d, _ in r[:3]] for r, t in zip(ranked, truth, strict=True)])
    truth_a = np.array(truth, dtype=object)
    per: dict[str, dict[str, float | int]] = {}
    for d in departments:
        m = truth_a == d
        if m.any():
            per[d] = {
                "n": int(m.sum()),
                "recall": round(float(t1[m].mean()), 4),
                "top3": round(float(t3[m].mean()), 4),
            }
    confusion: dict[str, dict[str, int]] = {}
    for t, f in zip(truth, first, strict=True):
        row = confusion.setdefault(t, {})
        row[f] = row.get(f, 0) + 1
    counts = Counter(truth)
    return {
        "top1": round(float(t1.mean()), 4),
        "top3": round(float(t3.mean()), 4),
        "macro_recall": round(float(np.mean([v["recall"] for v in per.values()])), 4),
        "majority_share": round(counts.most_common(1)[0][1] / len(truth), 4),
        "per_department": per,
        "confusion": {
            t: dict(sorted(r.items(), key=lambda kv: -kv[1])) for t, r in confusion.items()
        },
    }


def evaluate(ranker: Ranker, data: EvalSet, name: str = "ranker") -> EvalReport:
    """Rank every question of `data` in one batch call and score the rankings."""
    texts = [q.text for q in data.questions]
    truth = [q.department for q in data.questions]
    start = time.perf_counter()
    ranked = ranker(texts, data.departments)
    seconds = time.perf_counter() - start
    s = score(ranked, truth, data.departments)
    return EvalReport(
        ranker=name,
        n=len(texts),
        departments=list(data.departments),
        seconds=round(seconds, 4),
        throughput_qps=round(len(texts) / seconds, 1) if seconds > 0 else float("inf"),
        problems=list(data.problems),
        **s,
    )


def cross_validate(
    data: EvalSet,
    folds: int = 5,
    seed: int = 0,
    c: float = 10.0,
    balanced: bool = True,
    *,
    other: Ranker | None = None,
    weight: float = 0.2,
    method: BlendMethod = "score",
) -> dict[str, Any]:
    """Stratified k-fold of the supervised model on a labelled set: fitted on k−1 folds, the
    held-out fold ranked (with `other`, the fold model blended with it: `blend(fold model,
    other, weight, method)`); the pooled out-of-fold rankings scored once (`score`). What a
    hospital with this many labelled questions would get, measured without seeing the answer."""
    from sklearn.model_selection import StratifiedKFold

    from careops.triage.supervised import SupervisedModel

    texts = [q.text for q in data.questions]
    truth = [q.department for q in data.questions]
    counts = Counter(truth)
    if not 2 <= folds <= 20 or len(counts) < 2 or max(counts.values()) < folds:
        raise InvalidInput(
            f"交叉验证需要 2–20 折、至少 2 个科室且最多的科室不少于折数 (现 {folds} 折, "
            f"{len(counts)} 个科室, 最多 {max(counts.values())} 条) / cross-validation needs "
            "2–20 folds, 2 departments or more, and the largest department at least as many "
            "questions as folds",
            field="folds",
        )
    ranked: list[list[tuple[str, float]]] = [[] for _ in texts]
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_idx, test_idx in skf.split(texts, truth):
        fit_labels = [truth[i] for i in fit_idx]
        if len(set(fit_labels)) < 2:
            raise InvalidInput(
                "交叉验证的某一折只有一个科室 / a fold trains on one department only",
                field="folds",
            )
        m = SupervisedModel(c=c, balanced=balanced).fit([texts[i] for i in fit_idx], fit_labels)
        rank = m.rank_batch if other is None else blend(m.rank_batch, other, weight, method)
        fold = rank([texts[i] for i in test_idx], data.departments)
        for i, r in zip(test_idx, fold, strict=True):
            ranked[i] = r
    return {
        "folds": folds,
        "seed": seed,
        "n": len(texts),
        "blend": None if other is None else {"weight": weight, "method": method},
        **score(ranked, truth, data.departments),
    }


# -- rankers -----------------------------------------------------------------------------------
def majority(prior: dict[str, int] | Counter) -> Ranker:
    """The baseline: every text gets the same ranking, most frequent department in `prior`
    first (catalogue order among equals); scores are the shares."""
    total = sum(prior.values()) or 1

    def rank(texts: Sequence[str], departments: Sequence[str]) -> list[list[tuple[str, float]]]:
        order = sorted(departments, key=lambda d: -prior.get(d, 0))
        one = [(d, round(prior.get(d, 0) / total, 6)) for d in order]
        return [list(one) for _ in texts]

    return rank


def _fused(
    ranking: list[tuple[str, float]], departments: Sequence[str], method: BlendMethod
) -> dict[str, float]:
    if method == "rank":
        return {d: 1.0 / (RRF_K + i + 1) for i, (d, _) in enumerate(ranking)}
    scores = {d: float(s) for d, s in ranking}
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    span = hi - lo
    return {d: ((s - lo) / span if span > 0 else 0.0) for d, s in scores.items()}


def blend(
    first: Ranker, second: Ranker, weight: float = 0.5, method: BlendMethod = "score"
) -> Ranker:
    """Two rankers fused: `weight` × the first + (1 − `weight`) × the second, per department.

    `score`: each ranker's scores min-max scaled to 0–1 within each text (scores of different
    rankers are not on one scale); `rank`: reciprocal ranks 1/(60 + rank). A department one
    ranker leaves out counts 0 from it. Ties keep catalogue order.

    The default (`models.triage_blend_weight` 0.2, `score`) was measured on the shipped sets,
    supervised part out-of-fold (5-fold, ~250 questions per fit) with the zero-shot ranker of
    `careops.triage.zeroshot`: general set top-1 89.6 % (zero-shot alone), 89.6 % at 0.1,
    89.3 % at 0.2, 83.8 % at 0.5; internal medicine 92.0 → 93.6 % at 0.1 and at 0.2 (top-3
    97.1 → 98.4 %, macro recall 90.6 → 92.8 %). 0.2 rather than 0.1 because a hospital's model
    fitted on thousands of its own questions is stronger than these folds (a judgment, not a
    measurement). Rank fusion never beat the zero-shot ranker alone; a weight of 0.5 or more
    lets a weak supervised model override good zero-shot answers."""
    if not 0.0 <= weight <= 1.0:
        raise InvalidInput(
            f"融合权重应在 0 到 1 之间, 实际 {weight} / blend weight must be in 0–1, got {weight}",
            field="weight",
        )
    if method not in ("score", "rank"):
        raise InvalidInput(
            f"融合方法应为 score 或 rank / blend method must be score or rank, got {method!r}",
            field="method",
        )

    def rank(texts: Sequence[str], departments: Sequence[str]) -> list[list[tuple[str, float]]]:
        a, b = first(texts, departments), second(texts, departments)
        if len(a) != len(texts) or len(b) != len(texts):
            raise ValueError("a blended ranker answered a different number of rankings")
        out = []
        for ra, rb in zip(a, b, strict=True):
            fa, fb = _fused(ra, departments, method), _fused(rb, departments, method)
            fused = [
                (d, weight * fa.get(d, 0.0) + (1 - weight) * fb.get(d, 0.0)) for d in departments
            ]
            order = sorted(range(len(fused)), key=lambda i: -fused[i][1])
            out.append([(fused[i][0], round(fused[i][1], 6)) for i in order])
        return out

    return rank


@dataclass
class RankerContext:
    """What a ranker factory may need: the caller's `Ops` (for the registry), the as-of date
    and model id of the supervised model, the evaluated set (the majority prior)."""

    ops: Any = None
    as_of: dt.date | None = None
    model_id: str | None = None
    data: EvalSet | None = None
    notes: list[str] = field(default_factory=list)


def _majority(ctx: RankerContext) -> Ranker:
    if ctx.data is None:
        raise ValueError("the majority ranker needs the evaluated set")
    ctx.notes.append("majority: 按评估集自身的科室频率 / prior = the set's own label counts")
    return majority(Counter(q.department for q in ctx.data.questions))


def _supervised(ctx: RankerContext) -> Ranker:
    from careops.triage.supervised import load

    if ctx.ops is None:
        raise ValueError("the supervised ranker needs an Ops")
    from careops.asof import today

    as_of = ctx.as_of or today(ctx.ops.settings)
    meta, model = load(ctx.ops, as_of, ctx.model_id)
    ctx.notes.append(f"supervised: 模型 model {meta.model_id} (as of {meta.as_of})")
    if ctx.data is not None:
        unseen = [d for d in ctx.data.departments if d not in model.classes_]
        if unseen:
            ctx.notes.append(
                f"supervised: {len(unseen)} 个目录科室不在训练数据中, 得分为 0 / catalogue "
                f"departments never seen in training score 0: {', '.join(unseen[:10])}"
            )
    return model.rank_batch


def _zero_shot(ctx: RankerContext) -> Ranker:
    try:
        from careops.triage.zeroshot import rank_batch
    except ImportError:
        raise NotFound(
            "零样本分诊尚未安装 / the zero-shot ranker (careops.triage.zeroshot) is not "
            "installed in this build",
            field="ranker",
        ) from None
    return rank_batch


def _blend(ctx: RankerContext) -> Ranker:
    settings = ctx.ops.settings if ctx.ops is not None else None
    if settings is None:
        from careops.config import get_settings

        settings = get_settings()
    m = settings.models
    ctx.notes.append(
        f"blend: supervised × {m.triage_blend_weight} + zero_shot × "
        f"{1 - m.triage_blend_weight:g} ({m.triage_blend_method})"
    )
    return blend(_supervised(ctx), _zero_shot(ctx), m.triage_blend_weight, m.triage_blend_method)


RANKERS: dict[str, Callable[[RankerContext], Ranker]] = {
    "majority": _majority,
    "supervised": _supervised,
    "zero_shot": _zero_shot,
    "blend": _blend,
}


def make_ranker(name: str, ctx: RankerContext) -> Ranker:
    """The ranker registered as `name`, built for `ctx`."""
    try:
        factory = RANKERS[name]
    except KeyError:
        raise InvalidInput(
            f"未知的排序器 {name[:40]!r}, 可选 {', '.join(RANKERS)} / unknown ranker; one of "
            f"{', '.join(RANKERS)}",
            field="ranker",
        ) from None
    return factory(ctx)


def evaluate_file(
    ops: Any,
    path: Path,
    *,
    departments: Path | None = None,
    ranker: str = "supervised",
    as_of: dt.date | None = None,
    model_id: str | None = None,
    folds: int | None = None,
) -> EvalReport:
    """The service under `careops triage evaluate`: read the set (and catalogue), build the
    named ranker and evaluate it; with `folds`, cross-validate instead the supervised model
    (`supervised`) or its blend with the zero-shot ranker (`blend`) on the set itself."""
    cat = read_catalogue(departments) if departments is not None else None
    data = read_set(path, cat)
    ctx = RankerContext(ops=ops, as_of=as_of, model_id=model_id, data=data)
    if folds is not None:
        return _cross_validate_report(ctx, data, ranker, folds)
    rank = make_ranker(ranker, ctx)
    report = evaluate(rank, data, ranker)
    report.notes.extend(ctx.notes)
    return report


def _cross_validate_report(
    ctx: RankerContext, data: EvalSet, ranker: str, folds: int
) -> EvalReport:
    from careops.config import get_settings

    if ranker not in ("supervised", "blend"):
        raise InvalidInput(
            f"交叉验证只用于 supervised 或 blend, 不用于 {ranker[:40]!r} / cross-validation "
            "applies to the supervised and blend rankers",
            field="ranker",
        )
    m = (ctx.ops.settings if ctx.ops is not None else get_settings()).models
    other = _zero_shot(ctx) if ranker == "blend" else None
    start = time.perf_counter()
    cv = cross_validate(
        data,
        folds,
        c=m.triage_c,
        balanced=m.triage_balanced,
        other=other,
        weight=m.triage_blend_weight,
        method=m.triage_blend_method,
    )
    notes = [
        f"{folds} 折交叉验证, 监督模型只用训练折 / {folds}-fold cross-validation on the set "
        "itself: each question ranked by a model fitted without it"
    ]
    if other is not None:
        notes.append(
            f"blend: supervised × {m.triage_blend_weight} + zero_shot × "
            f"{1 - m.triage_blend_weight:g} ({m.triage_blend_method})"
        )
    return EvalReport(
        ranker=f"{ranker} (cv{folds})",
        n=cv["n"],
        departments=list(data.departments),
        top1=cv["top1"],
        top3=cv["top3"],
        macro_recall=cv["macro_recall"],
        majority_share=cv["majority_share"],
        per_department=cv["per_department"],
        confusion=cv["confusion"],
        seconds=round(time.perf_counter() - start, 4),
        throughput_qps=None,
        problems=list(data.problems),
        notes=notes,
    )
