"""CLI shells of `careops privacy rotate-key` and `careops privacy export` (mounted on the
privacy app by careops.privacy.cli). Logic lives in careops.privacy.rotate and .service."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from careops.cliutil import JsonOpt, WarehouseOpt, ops, out, print_json, rich_table, safe
from careops.errors import ConfigError


def rotate_key_command(
    new_key_env: Annotated[
        str | None,
        typer.Option(
            "--new-key-env",
            help="存放新密钥的环境变量名 / name of the environment variable holding the new key",
        ),
    ] = None,
    new_key_stdin: Annotated[
        bool,
        typer.Option("--new-key-stdin", help="从标准输入读新密钥 / read the new key from stdin"),
    ] = False,
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """轮换联系方式密钥 / Re-seal every contacts row under a new key, in one transaction.

    The current key is privacy.contacts_key; the new one comes from an environment variable or
    stdin (never the command line, which other users of the machine can read). Afterwards set
    privacy.contacts_key to the new key.
    """
    from careops.privacy.rotate import rotate_key

    if bool(new_key_env) == new_key_stdin:
        raise ConfigError(
            "--new-key-env / --new-key-stdin: 二选一 / give exactly one source of the new key"
        )
    if new_key_env:
        secret = os.environ.get(new_key_env, "")
        if not secret.strip():
            raise ConfigError(
                f"--new-key-env: 环境变量 {new_key_env} 未设置或为空 / {new_key_env} is not set "
                "or empty"
            )
    else:
        secret = sys.stdin.readline()
    context = ops(warehouse)
    try:
        done = rotate_key(context, secret)
    finally:
        context.close()
    if json_out:
        print_json(
            {
                "resealed": done.resealed,
                "already": done.already,
                "old_key_id": done.old_key_id,
                "new_key_id": done.new_key_id,
            }
        )
        return
    out.print(
        f"已用新密钥重新加密 / re-sealed {done.resealed:,} contacts row(s) "
        f"({safe(done.old_key_id)} → {safe(done.new_key_id)}); "
        f"{done.already:,} already under the new key.\n"
        "现在把 privacy.contacts_key 改为新密钥 / now set privacy.contacts_key to the new key "
        "(CAREOPS_PRIVACY__CONTACTS_KEY).",
        highlight=False,
    )


def export_command(
    tables: Annotated[list[str], typer.Argument(help="要导出的表 / tables to export")],
    out_dir: Annotated[Path, typer.Option("--out", help="输出目录 / output folder")],
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """导出去标识化数据 / Export tables de-identified for analysts (Parquet + manifest).

    Pseudonymous ids (HMAC under privacy.pseudonym_key), age bands, regions, dates shifted per
    patient or truncated to the month, free text dropped; contacts never exported.
    """
    from careops.privacy.service import export

    context = ops(warehouse)
    try:
        done = export(context, tables, str(out_dir))
    finally:
        context.close()
    if json_out:
        print_json({"out": done.out, "rows": done.rows, "date_mode": done.date_mode})
        return
    out.print(
        rich_table(
            f"去标识化导出 / de-identified export → {done.out} (dates: {done.date_mode})",
            ["表 / table", "行数 / rows"],
            [[t, f"{n:,}"] for t, n in done.rows.items()],
        )
    )
