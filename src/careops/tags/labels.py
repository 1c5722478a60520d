"""Tag columns as people read them: a label column beside each category or flag column.

The words come from the label catalogue (`careops.labels`)."""

from __future__ import annotations

import pyarrow as pa

from careops.labels import tag_label, value_label
from careops.tags.registry import REGISTRY, all_tags


def with_labels(table: pa.Table, lang: str = "zh") -> pa.Table:
    """`table` with, right after each category or bool tag column, its labels (header: the tag's
    Chinese label, e.g. 生命周期 beside lifecycle; in English `<name>_label`)."""
    all_tags()  # the registry is filled on first use
    out = table
    for name in table.column_names:
        tag = REGISTRY.get(name)
        if tag is None or not (tag.values or tag.type == "bool"):
            continue
        header = tag_label(name, "zh") if lang == "zh" else f"{name}_label"
        if header in out.column_names:
            header = f"{name}_label"
        labels = pa.array(
            [
                None if v is None else value_label(name, v, lang)
                for v in out.column(name).to_pylist()
            ],
            pa.string(),
        )
        out = out.add_column(out.column_names.index(name) + 1, header, labels)
    return out
