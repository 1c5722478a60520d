"""Find the knowledge base's words in a patient's text, longest first, and mark the negated ones.

The scan walks the normalised text left to right and takes, at each position, the longest word
of the lexicon that starts there (so 睡不着 is one word, not the cue 不 before 着; 不孕 is a word,
not 不 + 孕). Where no word starts, a negation cue (不, 没有, 无, 未, 否认 …) may. A cue negates
the next word when only filler stands between them (没有明显发热, 不太咳嗽), and a negated word
passes its negation on to words listed after it (没有发热、咳嗽和胸痛). A clause ends at
punctuation or a contrast (但, 可是, 就是), which also ends a negation. ASCII words (CT, HPV, ED)
match only as whole words. Text not covered by any word is tokenised by jieba for the lexical
overlap with department descriptions and doctor profiles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from careops.triage.kb import normalise

CUES = (
    "不",
    "没",
    "没有",
    "无",
    "未",
    "否认",
    "并无",
    "并没有",
    "从不",
    "从没",
    "从来没有",
    "从未",
    "不再",
    "非",
)
_CUE_MAX = max(map(len, CUES))
_CUES = frozenset(CUES)
#: what may stand between a cue and the word it negates
_FILLER = re.compile(
    r"^(?:有|明显|什么|太|再|出现|感到|觉得|感觉|发生|过|任何|怎么|咋|啥|伴|伴有|伴随|一点|特别|很|"
    r"想过|想|发|犯|老|经常|\s)*$"
)
#: what may stand between two words of one negated list
_LIST = re.compile(r"^(?:、|和|及|与|或|或者|跟|也|也没有|也没|也不|也无|/|\s)*$")
_BOUNDARY = re.compile(r"[,.;!?:。；！？：\n]|但是|但|可是|然而|却|就是|只是|而是")
_ASCII = re.compile(r"[0-9a-z]")


@dataclass(frozen=True)
class Hit:
    """A word of the lexicon found in the text."""

    term: str
    key: int
    start: int
    end: int
    negated: bool


def _clauses(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _BOUNDARY.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if b > a]


def _word_edge_ok(text: str, start: int, end: int, term: str) -> bool:
    """ASCII terms stand alone: `ct` is not found inside `act`, `38` not inside `138`."""
    if _ASCII.match(term[0]) and start > 0 and _ASCII.match(text[start - 1]):
        return False
    return not (_ASCII.match(term[-1]) and end < len(text) and _ASCII.match(text[end]))


def scan(
    text: str, terms: Mapping[str, int], max_len: int, *, normalised: bool = False
) -> list[Hit]:
    """The lexicon's words in `text` with their negation, in text order. `terms` maps a
    normalised word to its key; `max_len` is the longest word's length."""
    if not normalised:
        text = normalise(text)
    hits: list[Hit] = []
    for a, b in _clauses(text):
        i = a
        last_end, last_kind, last_neg = a, "", False  # the previous cue or word in the clause
        while i < b:
            found = None
            for n in range(min(max_len, b - i), 0, -1):
                cand = text[i : i + n]
                if cand in terms and _word_edge_ok(text, i, i + n, cand):
                    found = cand
                    break
            if found is not None:
                gap = text[last_end:i]
                if last_kind == "cue":
                    negated = bool(_FILLER.match(gap)) and len(gap) <= 6
                elif last_kind == "word" and last_neg:
                    negated = bool(_LIST.match(gap))
                else:
                    negated = False
                hits.append(Hit(found, terms[found], i, i + len(found), negated))
                last_end, last_kind, last_neg = i + len(found), "word", negated
                i += len(found)
                continue
            cue = next(
                (
                    text[i : i + n]
                    for n in range(min(_CUE_MAX, b - i), 0, -1)
                    if text[i : i + n] in _CUES
                ),
                None,
            )
            if cue is not None:
                last_end, last_kind, last_neg = i + len(cue), "cue", True
                i += len(cue)
                continue
            i += 1
    return hits


def uncovered(text: str, hits: list[Hit]) -> str:
    """The text with the found words blanked out (what jieba still has to read)."""
    chars = list(text)
    for h in hits:
        chars[h.start : h.end] = " " * (h.end - h.start)
    return "".join(chars)


_STOP = frozenset(
    [
        "的",
        "了",
        "是",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "这",
        "那",
        "有",
        "在",
        "和",
        "就",
        "都",
        "也",
        "还",
        "又",
        "很",
        "太",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "哦",
        "嗯",
        "么",
        "什么",
        "怎么",
        "怎么办",
        "怎么样",
        "为什么",
        "一下",
        "一点",
        "一些",
        "有点",
        "有些",
        "已经",
        "现在",
        "今天",
        "昨天",
        "最近",
        "之前",
        "以后",
        "时候",
        "感觉",
        "觉得",
        "医生",
        "请问",
        "您好",
        "你好",
        "谢谢",
        "可以",
        "需要",
        "应该",
        "能不能",
        "是不是",
        "要不要",
        "这个",
        "那个",
        "没有",
        "不是",
        "一直",
        "经常",
        "总是",
        "还是",
        "或者",
        "然后",
        "因为",
        "所以",
        "如果",
        "但是",
        "好像",
        "比较",
        "非常",
        "特别",
        "天",
        "次",
    ]
)


def tokens(text: str) -> list[str]:
    """jieba words of `text` (search mode), without stop words, punctuation and single
    characters — the words the knowledge base does not know, for lexical overlap."""
    import jieba

    jieba.setLogLevel(60)
    out = []
    for w in jieba.lcut_for_search(normalise(text)):
        w = w.strip()
        if len(w) >= 2 and w not in _STOP and any(ch.isalnum() for ch in w):
            out.append(w)
    return out


_SEPARATORS = re.compile(r"[、,，;；。.:：/()（）\s]+|和|及|与|或")


def phrases(text: str, short: int = 6) -> list[str]:
    """The phrases of a list-like text (a department description, a doctor's specialties):
    cut at 、，; and 和/及/与/或; a phrase longer than `short` characters is tokenised by jieba."""
    out: list[str] = []
    for p in _SEPARATORS.split(normalise(text)):
        if len(p) < 2:
            continue
        out.extend([p] if len(p) <= short else tokens(p))
    return list(dict.fromkeys(out))
