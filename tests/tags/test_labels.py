"""Label columns beside coded tag columns (exports for people)."""

import pyarrow as pa

from careops.tags.labels import with_labels


def test_label_columns_follow_their_codes():
    t = pa.table(
        {"user_id": ["a", "b"], "value": ["high", None], "chronic": [True, False], "age": [40, 50]}
    )
    zh = with_labels(t)
    assert zh.column_names == ["user_id", "value", "价值", "chronic", "慢病患者", "age"]
    assert zh.column("价值").to_pylist() == ["高价值", None]
    assert zh.column("慢病患者").to_pylist() == ["是", "否"]
    en = with_labels(t, "en")
    assert en.column_names == ["user_id", "value", "value_label", "chronic", "chronic_label", "age"]
    assert en.column("value_label").to_pylist() == ["High value", None]
