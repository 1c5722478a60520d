"""Mapping files: a hospital's own column names and code values onto the canonical ones.

```yaml
table: patients            # optional: the canonical table these files hold
columns:                   # the file's header -> canonical column
  患者ID: user_id
  性别: sex
  出生日期: birth_date
values:                    # per canonical column: the file's value -> canonical value
  sex: {男: M, 女: F, 未知: U}
identifiers:               # direct identifiers: file column -> contacts field (name, phone,
  手机号: phone            # email, wechat_openid, id_number); or columns: {手机号: contacts.phone}
```

Identifier columns go encrypted to the `contacts` table (or are dropped when no key is set),
never to `ingest_extras`; see `careops.privacy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from careops.errors import ConfigError, InputError
from careops.privacy.contacts import FIELDS
from careops.privacy.identifiers import PREFIX
from careops.schema import TABLES


def _error(path: Path, detail: str) -> ConfigError:
    return ConfigError(f"映射文件有误 / mapping file {path}: {detail}")


@dataclass(frozen=True)
class Mapping:
    """Renames and value maps applied to a staged table before validation."""

    table: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    identifiers: dict[str, str] = field(default_factory=dict)  # file column -> contacts field

    @classmethod
    def load(cls, path: Path) -> Mapping:
        """Read and check a mapping file; errors name the key that is wrong."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise _error(path, str(exc)) from None
        if not isinstance(data, dict):
            raise _error(path, "expected keys table/columns/values")
        unknown = set(data) - {"table", "columns", "values", "identifiers"}
        if unknown:
            raise _error(
                path,
                f"unknown key(s) {', '.join(sorted(unknown))}; "
                "allowed: table, columns, values, identifiers",
            )
        table = data.get("table")
        if table is not None and table not in TABLES:
            raise _error(
                path, f"table {table!r} is not a canonical table; known: {', '.join(TABLES)}"
            )
        columns = data.get("columns") or {}
        values = data.get("values") or {}
        if (
            not isinstance(columns, dict)
            or not isinstance(values, dict)
            or not all(isinstance(v, dict) for v in values.values())
        ):
            raise _error(
                path,
                "'columns' must map names to names and "
                "'values' must map a column to {from: to} pairs",
            )
        identifiers = data.get("identifiers") or {}
        if not isinstance(identifiers, dict):
            raise _error(
                path, f"'identifiers' must map a column to a contacts field ({', '.join(FIELDS)})"
            )
        columns = {str(k): str(v) for k, v in columns.items()}
        identifiers = {str(k): str(v) for k, v in identifiers.items()}
        for column, target in identifiers.items():
            if target not in FIELDS:
                raise _error(
                    path,
                    f"identifiers: {column} -> {target!r} is not a contacts "
                    f"field{_closest(target, FIELDS)}; use one of "
                    f"{', '.join(FIELDS)}",
                )
        for column, target in columns.items():
            if target.startswith(PREFIX):
                if target[len(PREFIX) :] not in FIELDS:
                    raise _error(
                        path,
                        f"columns: {column} -> {target!r} is not a contacts "
                        f"field{_closest(target, [PREFIX + f for f in FIELDS])}",
                    )
                identifiers.setdefault(column, target[len(PREFIX) :])
                continue
            known = (
                TABLES[table].names
                if table
                else sorted({n for spec in TABLES.values() for n in spec.names})
            )
            if target not in known:
                where = f"of table {table}" if table else "of any canonical table"
                raise _error(
                    path,
                    f"columns: {column} -> {target!r} is not a column {where}"
                    f"{_closest(target, known)}",
                )
        targets: dict[str, str] = {}
        for column, target in columns.items():
            if target in targets:
                raise _error(
                    path,
                    f"columns {targets[target]!r} and {column!r} both map to "
                    f"{target!r}; a column can be filled from one only",
                )
            targets[target] = column
        columns = {k: v for k, v in columns.items() if not v.startswith(PREFIX)}
        return cls(
            table=table,
            columns=columns,
            values={str(c): {str(k): str(v) for k, v in m.items()} for c, m in values.items()},
            identifiers=identifiers,
        )

    def apply(self, table: pa.Table) -> pa.Table:
        """Rename columns, then translate values (text compare after trimming)."""
        names = [self.columns.get(n, n) for n in table.column_names]
        seen: dict[str, str] = {}
        for before, after in zip(table.column_names, names, strict=True):
            if after in seen:
                raise InputError(
                    f"映射后列名重复 / after the mapping, columns {seen[after]!r} "
                    f"and {before!r} are both {after!r}; map only one of them "
                    "(or rename the other)"
                )
            seen[after] = before
        table = table.rename_columns(names)
        for column, pairs in self.values.items():
            if column not in table.column_names:
                continue
            col = pc.utf8_trim_whitespace(table[column].cast(pa.string()))
            for src, dst in pairs.items():
                col = pc.if_else(pc.equal(col, src), pa.scalar(dst, pa.string()), col)
            table = table.set_column(table.column_names.index(column), column, col)
        return table


def _closest(name: str, options) -> str:
    import difflib

    best = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean {best[0]!r}?)" if best else ""
