"""Smart triage (智能导诊) for the hospital's apps and its doctors' assistants: a patient's words
→ an emergency instruction first when they signal danger, then departments and doctors
(`careops.triage.service`)."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from careops.api.deps import AUTH_ERRORS, require
from careops.service import Ops
from careops.triage.service import Triage, open_triage

router = APIRouter(prefix="/triage", tags=["triage"], responses={**AUTH_ERRORS})

Runner = Annotated[Ops, Depends(require("triage.run"))]

#: the catalogue and doctors are read from the warehouse at most this often per process
CACHE_S = 300.0
MAX_BATCH = 100
_lock = threading.Lock()


class Question(BaseModel):
    """One patient's words, as typed (colloquial Chinese, misspellings, CT/HPV are fine)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000, description="主诉 / the complaint")
    top: int = Field(3, ge=1, le=20, description="返回科室数 / departments returned")
    doctors: int = Field(5, ge=0, le=20, description="返回医生数 / doctors returned")


class Item(BaseModel):
    """One question of a batch, with the caller's id."""

    model_config = ConfigDict(extra="forbid")
    id: StrictStr | StrictInt = Field(description="调用方的编号 / the caller's id, echoed")
    text: str = Field(min_length=1, max_length=2000)


class Batch(BaseModel):
    """Up to 100 questions answered in one request, in order."""

    model_config = ConfigDict(extra="forbid")
    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)
    top: int = Field(3, ge=1, le=20)
    doctors: int = Field(5, ge=0, le=20)


class Emergency(BaseModel):
    """A red flag: tell the patient to call 120 or go to an emergency room now."""

    rule: str
    name: str
    advice: str
    words: list[str]


class Department(BaseModel):
    """A department of the hospital's catalogue, its score, and the words that decided it."""

    name: str
    score: float
    words: list[str] = []


class Answer(BaseModel):
    """The emergency (null unless a red flag fired) comes first: show it before anything."""

    id: str | int | None = None
    emergency: Emergency | None
    departments: list[Department]
    doctors: list[dict[str, Any]]
    paediatric: bool
    recognised: bool = Field(description="识别到医学词汇 / the text held medical words")
    found: list[str]
    negated: list[str]


class BatchAnswer(BaseModel):
    """The answers, in the order of the questions."""

    items: list[Answer]


def _triage(request: Request, ops: Ops) -> Triage:
    """The hospital's triage, rebuilt from the warehouse every `CACHE_S` seconds."""
    state = request.app.state
    with _lock:
        cached = getattr(state, "triage_cache", None)
        if cached is None or time.monotonic() - cached[0] > CACHE_S:
            cached = (time.monotonic(), open_triage(None, ops))
            state.triage_cache = cached
    return cached[1]


def _audit(ops: Ops, answers: list[dict]) -> None:
    """Who asked and what came out; never the patient's words."""
    ops.audit(
        "triage.ask",
        "triage",
        {
            "questions": len(answers),
            "emergencies": sorted({a["emergency"]["rule"] for a in answers if a["emergency"]}),
            "top": sorted({a["departments"][0]["name"] for a in answers if a["departments"]}),
        },
    )


@router.post("", summary="智能导诊 / triage one question")
def ask(ops: Runner, request: Request, q: Question) -> Answer:
    """Red flag first (请立即拨打120或前往急诊, with the rule that fired), then the hospital's
    departments most likely to help, with the words that decided, and matching doctors."""
    answer = _triage(request, ops).ask(q.text, top=q.top, doctors=q.doctors).as_dict()
    _audit(ops, [answer])
    return Answer(**answer)


@router.post("/batch", summary="批量导诊 / triage up to 100 questions")
def ask_batch(ops: Runner, request: Request, batch: Batch) -> BatchAnswer:
    """Each item answered in order with its `id` echoed."""
    t = _triage(request, ops)
    answers = [
        t.ask(i.text, top=batch.top, doctors=batch.doctors).as_dict(i.id) for i in batch.items
    ]
    _audit(ops, answers)
    return BatchAnswer(items=[Answer(**a) for a in answers])
