"""Mapping files: a hospital's own column names and code values onto the canonical ones.

```yaml
table: patients            # optional: the canonical table these files hold
columns:                   # the file's header -> canonical column
  患者ID: user_id
  性别: sex
  出生日期: birth_date
values:                    # per canonical column: the file's value -> canonical value
  sex: {男: M, 女: F, 未知: U}
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from careops.errors import ConfigError
from careops.schema import TABLES


def _error(path: Path, detail: str) -> ConfigError:
    return ConfigError(f"映射文件有误 / mapping file {path}: {detail}")


@dataclass(frozen=True)
class Mapping:
    """Renames and value maps applied to a staged table before validation."""

    table: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Mapping:
        """Read and check a mapping file; errors name the key that is wrong."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise _error(path, str(exc)) from None
        if not isinstance(data, dict):
            raise _error(path, "expected keys table/columns/values")
        unknown = set(data) - {"table", "columns", "values"}
        if unknown:
            raise _error(path, f"unknown key(s) {', '.join(sorted(unknown))}; "
                               "allowed: table, columns, values")
        table = data.get("table")
        if table is not None and table not in TABLES:
            raise _error(path, f"table {table!r} is not a canonical table; "
                               f"known: {', '.join(TABLES)}")
        columns = data.get("columns") or {}
        values = data.get("values") or {}
        if not isinstance(columns, dict) or not isinstance(values, dict) or not all(
                isinstance(v, dict) for v in values.values()):
            raise _error(path, "'columns' must map names to names and "
                               "'values' must map a column to {from: to} pairs")
        return cls(table=table, columns={str(k): str(v) for k, v in columns.items()},
                   values={str(c): {str(k): str(v) for k, v in m.items()}
                           for c, m in values.items()})

    def apply(self, table: pa.Table) -> pa.Table:
        """Rename columns, then translate values (text compare after trimming)."""
        names = [self.columns.get(n, n) for n in table.column_names]
        table = table.rename_columns(names)
        for column, pairs in self.values.items():
            if column not in table.column_names:
                continue
            col = pc.utf8_trim_whitespace(table[column].cast(pa.string()))
            for src, dst in pairs.items():
                col = pc.if_else(pc.equal(col, src), pa.scalar(dst, pa.string()), col)
            table = table.set_column(table.column_names.index(column), column, col)
        return table
