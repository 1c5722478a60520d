"""CLI for the warehouse itself: `init`, `tables`, and the analyst SQL door `sql`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from careops.cliutil import (
    JsonOpt,
    LangOpt,
    StateOpt,
    WarehouseOpt,
    lang_of,
    ops,
    out,
    print_json,
    rich_table,
    safe,
)
from careops.errors import ConfigError
from careops.i18n import label


def init(warehouse: WarehouseOpt = None, state: StateOpt = None) -> None:
    """创建仓库和状态库 / Create the warehouse tables and the state store."""
    from careops.warehouse.service import init_warehouse

    done = init_warehouse(ops(warehouse, state))
    out.print(
        f"仓库就绪 / warehouse ready: {len(done.created)} table(s) created"
        + (f" ({', '.join(done.created)})" if done.created else "")
    )
    if done.analyst is not None:
        a = done.analyst
        if a.problem:
            out.print(f"分析角色未就绪 / analyst role {safe(a.role)} not set up: {safe(a.problem)}")
        else:
            out.print(
                f"分析角色 / analyst role {safe(a.role)}"
                f"{' created' if a.created else ''}: SELECT on {len(a.granted)} table(s)"
            )
    out.print(f"状态库就绪 / state store ready at revision {done.revision}")


def tables(warehouse: WarehouseOpt = None, json_out: JsonOpt = False, lang: LangOpt = None) -> None:
    """各表行数 / Row counts of the warehouse tables."""
    from careops.schema import TABLES
    from careops.warehouse.service import table_counts

    lg = lang_of(lang)
    counts = table_counts(ops(warehouse))
    if json_out:
        print_json(counts)
        return
    out.print(
        rich_table(
            label("tables_title", lg),
            [label("table", lg), "中文" if lg == "zh" else "label", label("rows", lg)],
            [[n, TABLES[n].label_zh, f"{c:,}"] for n, c in counts.items()],
        )
    )


def sql(
    query: Annotated[
        str | None, typer.Argument(help='只读 SQL, 如 "SELECT count(*) FROM events"; 或用 --file')
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="从文件读取查询, - 为标准输入 / read the query from a file, - for stdin",
        ),
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="CSV 输出全部行 / every row as CSV")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="JSON 输出全部行 / every row as JSON")
    ] = False,
    limit: Annotated[int, typer.Option(help="表格最多显示行数 / rows shown in the table")] = 100,
    timeout: Annotated[
        float | None,
        typer.Option(help="超时秒数 / cancel after this many seconds (default sql.timeout_s)"),
    ] = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """只读查询 / Run a read-only SQL query (SELECT/WITH only) for analysts.

    Reads only the canonical tables (not contacts, not the quarantine); every run is audited.
    Timestamps are shown in the hospital's timezone with their offset. Ctrl-C cancels.
    See docs/sql.md.
    """
    from careops.warehouse.analyst import run_query

    text = _query_text(query, file)
    if csv and json_out:
        raise ConfigError("--csv 与 --json 只能选一个 / choose one of --csv and --json")
    if limit < 0:
        raise ConfigError("--limit 不能为负 / --limit must be 0 or more")
    context = ops(warehouse, state)
    tz = context.settings.timezone
    try:
        with run_query(context, text, timeout_s=timeout) as run:
            if csv:
                _write_csv(run, tz)
            elif json_out:
                _write_json(run, tz)
            else:
                _print_table(run, tz, limit)
    except BrokenPipeError:  # `careops sql … --csv | head`: the reader has what it wanted
        sys.stderr.close()
    except KeyboardInterrupt:  # Ctrl-C before the query started (while opening or checking)
        from careops.warehouse.analyst import QueryCancelled

        raise QueryCancelled("查询已取消 / query cancelled") from None
    finally:
        context.close()


def _query_text(query: str | None, file: str | None) -> str:
    if (query is None) == (file is None):
        raise ConfigError(
            "给出查询或 --file 之一 / give the query as an argument or with --file "
            "PATH (- for stdin), not both"
        )
    if file is None:
        return query  # type: ignore[return-value]
    from careops.warehouse.query import MAX_CHARS

    try:
        if file == "-":
            text = sys.stdin.read(MAX_CHARS + 1)
        else:
            with open(file, encoding="utf-8-sig") as handle:
                text = handle.read(MAX_CHARS + 1)
    except FileNotFoundError:
        raise ConfigError(f"没有文件 / no such file: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"无法读取查询文件 / cannot read the query file {file}: {type(exc).__name__}: {exc}"
        ) from None
    return text


def _local(batch, tz: str):
    """Timestamps with a zone shown in the hospital's zone (the offset printed with them)."""
    import pyarrow as pa

    for i, f in enumerate(batch.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz:
            batch = batch.set_column(
                i, f.name, batch.column(i).cast(pa.timestamp(f.type.unit, tz=tz))
            )
    return batch


def _write_csv(run, tz: str) -> None:
    import pyarrow.csv as pacsv

    stream = sys.stdout.buffer
    sys.stdout.flush()
    writer = None
    for batch in run:
        batch = _local(batch, tz)
        if writer is None:
            writer = pacsv.CSVWriter(stream, batch.schema)
        writer.write_batch(batch)
        stream.flush()
    if writer is None:  # no rows: still the header
        from careops.warehouse.analyst_engines import unique_names

        stream.write(
            (
                ",".join(json.dumps(n, ensure_ascii=False) for n in unique_names(run.schema.names))
                + "\n"
            ).encode()
        )
    else:
        writer.close()
    stream.flush()


def _write_json(run, tz: str) -> None:
    """A JSON array of row objects, written as the rows arrive."""
    write = sys.stdout.write
    first = True
    write("[")
    for batch in run:
        for row in _local(batch, tz).to_pylist():
            write(
                ("\n  " if first else ",\n  ")
                + json.dumps(row, ensure_ascii=False, default=_json_value)
            )
            first = False
        sys.stdout.flush()
    write("\n]\n" if not first else "]\n")
    sys.stdout.flush()


def _json_value(value):
    import datetime as dt

    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _print_table(run, tz: str, limit: int) -> None:
    import pyarrow as pa

    shown: list[list] = []
    for batch in run:  # every row is counted, only `limit` are kept
        if len(shown) < limit:
            part = _local(batch.slice(0, limit - len(shown)), tz)
            shown.extend(list(r.values()) for r in part.to_pylist())
    columns = [
        f"{f.name} ({tz})" if pa.types.is_timestamp(f.type) and f.type.tz else f.name
        for f in run.schema
    ]
    more = run.rows - len(shown)
    out.print(rich_table(f"{run.rows:,} rows", columns, shown))
    if more:
        out.print(
            f"另有 {more:,} 行未显示 / {more:,} more rows not shown (--limit N, or --csv / "
            "--json for every row)",
            soft_wrap=True,
            highlight=False,
        )
