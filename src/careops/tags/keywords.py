"""Recent search keywords: jieba tokens of each user's searches in the last N days.

Tokenising Chinese text is not something a warehouse can do, so the (user, query) pairs of the
window are fetched (searches only, distinct) and tokenised in Python, once per distinct query.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from functools import lru_cache

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from careops.tags.context import TagContext

STOPWORDS = frozenset(
    [
        "怎么办",
        "怎么",
        "什么",
        "如何",
        "为什么",
        "可以",
        "吗",
        "的",
        "了",
        "和",
        "是",
        "有",
        "在",
        "我",
        "你",
        "会",
        "要",
        "能",
        "好",
        "还是",
        "一下",
        "一直",
        "需要",
        "应该",
        "哪些",
        "多少",
    ]
)


@lru_cache(maxsize=100_000)
def tokens(query: str) -> tuple[str, ...]:
    """Meaningful jieba tokens of a query (≥ 2 characters, no stop words, no numbers)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    out = []
    for tok in jieba.lcut(query.strip().lower()):
        tok = tok.strip()
        if len(tok) >= 2 and tok not in STOPWORDS and not tok.replace(".", "").isdigit():
            out.append(tok)
    return tuple(out)


def query_of(properties: str | None) -> str:
    """The `query` of a search event's JSON properties ('' when absent or unreadable)."""
    if not properties:
        return ""
    try:
        value = json.loads(properties)
    except (ValueError, TypeError):
        return ""
    q = value.get("query") if isinstance(value, dict) else None
    return q if isinstance(q, str) else ""


def keyword_table(ctx: TagContext) -> ir.Table:
    """`kw__user_id`, `kw__keywords`: top tokens by count (ties: code-point order), joined."""
    s = ctx.settings.tags
    t = ctx.facts("events", "ts")
    t = t.filter(t.name == "search", ctx.since(t.ts, s.keyword_days))
    pairs = t.group_by("user_id", "properties").aggregate(n=t.count()).to_pyarrow()
    counts: dict[str, Counter] = defaultdict(Counter)
    for user, props, n in zip(
        pairs["user_id"].to_pylist(),
        pairs["properties"].to_pylist(),
        pairs["n"].to_pylist(),
        strict=True,
    ):
        for tok in tokens(query_of(props)):
            counts[user][tok] += n
    users = sorted(counts)
    words = [
        ",".join(
            w for w, _ in sorted(counts[u].items(), key=lambda kv: (-kv[1], kv[0]))[: s.keyword_top]
        )
        for u in users
    ]
    data = pa.table(
        {"kw__user_id": pa.array(users, pa.string()), "kw__keywords": pa.array(words, pa.string())}
    )
    return ibis.memtable(data)


KEYWORD_SCHEMA = ibis.schema({"kw__user_id": "string", "kw__keywords": "string"})
