"""`careops users …`: staff accounts, care assignments and the API keys of the hospital's apps.

Thin shell over `careops.identity` (accounts, assignments, apikeys): parses options, calls, prints.
Passwords come from standard input (`--password-stdin`), never from the command line, where
`ps` and shell history would show them. Every name and value is printed through `safe`.
"""

from __future__ import annotations

import getpass
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
from careops.errors import InvalidInput

users_app = typer.Typer(
    help="账号与 API 密钥 / Staff accounts, care assignments and API keys.",
    no_args_is_help=True,
)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="从标准输入读取密码 / read the password from standard input (a terminal prompts)",
    ),
]
Name = Annotated[str, typer.Argument(help="用户名 / username")]


def _call(function, warehouse, state, *args, **kwargs):
    """Run an identity function in a fresh service context, released afterwards."""
    context = ops(warehouse, state)
    try:
        return function(context, *args, **kwargs)
    finally:
        context.close()


def read_password(flag: bool) -> str:
    """The password from standard input: a prompt (asked twice) on a terminal, else the first
    line of what is piped in. Refused when empty or when `--password-stdin` is missing."""
    if not flag:
        raise InvalidInput(
            "请用 --password-stdin 从标准输入提供密码 / give the password on standard input with "
            "--password-stdin (never as an argument)"
        )
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass("密码 / password: ")
        if not first:
            raise InvalidInput("密码为空 / the password is empty")
        if getpass.getpass("再次输入 / again: ") != first:
            raise InvalidInput("两次输入的密码不一致 / the passwords differ")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput("标准输入中没有密码 / no password on standard input")
    return password


def _role(role: str, lang: str) -> str:
    from careops.labels import label_or

    return f"{label_or(f'role.{role}', role, lang)} ({role})"


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _account_json(a) -> dict:
    return {
        "username": a.username,
        "display_name": a.display_name,
        "role": a.role,
        "departments": list(a.departments),
        "disabled": a.disabled,
        "locked_until": a.locked_until.isoformat() if a.locked_until else None,
        "created_at": a.created_at.isoformat(),
        "created_by": a.created_by,
    }


@users_app.command("add")
def add(
    name: Name,
    role: Annotated[
        str, typer.Option("--role", help="admin|operations|medical|health_manager|analyst|auditor")
    ],
    department: Annotated[
        list[str] | None, typer.Option("--department", help="科室, 可重复 / department (repeat)")
    ] = None,
    display_name: Annotated[str, typer.Option("--display-name", help="显示名 / display name")] = "",
    password_stdin: PasswordStdin = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """新建员工账号 / Create a staff account (password from standard input)."""
    from careops.identity import accounts

    password = read_password(password_stdin)
    a = _call(
        accounts.add_user, warehouse, state, name, role, password, department or (), display_name
    )
    out.print(f"已创建 / created [bold]{safe(a.username)}[/] ({safe(a.role)})")


@users_app.command("list")
def list_(
    role: Annotated[str | None, typer.Option("--role", help="只列该角色 / only this role")] = None,
    json_: JsonOpt = False,
    lang: LangOpt = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """列出员工账号 / List staff accounts."""
    from careops.identity import accounts

    context = ops(warehouse, state)
    try:
        items, offset = [], 0
        while True:  # every account, a page at a time
            page, total = accounts.list_users(context, limit=1000, offset=offset, role=role)
            items += page
            offset += len(page)
            if not page or offset >= total:
                break
    finally:
        context.close()
    if json_:
        print_json([_account_json(a) for a in items])
        return
    if not items:
        out.print(
            "还没有账号 / no accounts yet: careops users add NAME --role admin --password-stdin"
        )
        return
    language = lang_of(lang)
    zh = language == "zh"
    columns = (
        ["用户名", "显示名", "角色", "科室", "状态", "锁定至 (UTC)", "创建于 (UTC)"]
        if zh
        else [
            "username",
            "display name",
            "role",
            "departments",
            "status",
            "locked until",
            "created",
        ]
    )
    rows = [
        [
            a.username,
            a.display_name,
            _role(a.role, language),
            ", ".join(a.departments),
            ("已停用" if zh else "disabled") if a.disabled else ("启用" if zh else "enabled"),
            _when(a.locked_until),
            _when(a.created_at),
        ]
        for a in items
    ]
    out.print(rich_table("员工账号 / staff accounts" if zh else "staff accounts", columns, rows))


@users_app.command("disable")
def disable(name: Name, warehouse: WarehouseOpt = None, state: StateOpt = None) -> None:
    """停用账号并注销其令牌 / Disable an account; its live tokens end."""
    from careops.identity import accounts

    _call(accounts.update_user, warehouse, state, name, disabled=True)
    out.print(f"已停用 / disabled {safe(name)}")


@users_app.command("enable")
def enable(name: Name, warehouse: WarehouseOpt = None, state: StateOpt = None) -> None:
    """启用账号 / Enable an account again (its lock-out is cleared)."""
    from careops.identity import accounts

    _call(accounts.update_user, warehouse, state, name, disabled=False)
    out.print(f"已启用 / enabled {safe(name)}")


@users_app.command("passwd")
def passwd(
    name: Name,
    password_stdin: PasswordStdin = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """重设密码 / Set an account's password (from standard input); its tokens end."""
    from careops.identity import accounts

    password = read_password(password_stdin)
    _call(accounts.set_password, warehouse, state, name, password)
    out.print(f"已重设密码 / password set for {safe(name)}")


Manager = Annotated[str, typer.Argument(help="健康管理师用户名 / the health manager")]
Patients = Annotated[list[str], typer.Argument(help="患者 ID / patient user ids")]


@users_app.command("assign")
def assign(
    manager: Manager, user_ids: Patients, warehouse: WarehouseOpt = None, state: StateOpt = None
) -> None:
    """分配患者给健康管理师 / Put patients in a health manager's care."""
    from careops.identity import assignments

    done = _call(assignments.assign, warehouse, state, manager, user_ids)
    out.print(
        f"{safe(manager)}: 新分配 / assigned {len(done.changed)}, "
        f"已在名下 / already {len(done.unchanged)}"
    )


@users_app.command("unassign")
def unassign(
    manager: Manager, user_ids: Patients, warehouse: WarehouseOpt = None, state: StateOpt = None
) -> None:
    """取消分配 / Take patients out of a health manager's care."""
    from careops.identity import assignments

    done = _call(assignments.unassign, warehouse, state, manager, user_ids)
    out.print(
        f"{safe(manager)}: 已取消 / unassigned {len(done.changed)}, "
        f"不在名下 / not assigned {len(done.unchanged)}"
    )


def _key_json(k) -> dict:
    return {
        "key_id": k.key_id,
        "name": k.name,
        "scopes": list(k.scopes),
        "departments": list(k.departments),
        "created_at": k.created_at.isoformat(),
        "created_by": k.created_by,
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
    }


@users_app.command("key-add")
def key_add(
    name: Annotated[str, typer.Argument(help="应用名 / the app's name")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="权限范围, 可重复 / scope (repeat), e.g. events.write"),
    ],
    department: Annotated[
        list[str] | None, typer.Option("--department", help="科室, 可重复 / department (repeat)")
    ] = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """新建应用 API 密钥(只显示一次) / Create an app's API key (shown once)."""
    from careops.identity import apikeys

    new = _call(apikeys.create_key, warehouse, state, name, scope, department or ())
    if json_:
        print_json({**_key_json(new.key), "secret": new.secret})
        return
    out.print(f"已创建 / created API key [bold]{safe(new.key.name)}[/] ({safe(new.key.key_id)})")
    out.print("密钥只显示这一次, 请妥善保存 / the key is shown this once; store it safely:")
    print(new.secret)  # plain, for copying (the secret's characters are [A-Za-z0-9_-])


@users_app.command("key-list")
def key_list(
    json_: JsonOpt = False,
    lang: LangOpt = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """列出 API 密钥(不含密钥本身) / List API keys (never their secrets)."""
    from careops.identity import apikeys

    items, _ = _call(apikeys.list_keys, warehouse, state, limit=10_000)
    if json_:
        print_json([_key_json(k) for k in items])
        return
    zh = lang_of(lang) == "zh"
    columns = (
        ["名称", "密钥 ID", "权限范围", "科室", "状态", "最近使用 (UTC)", "创建于 (UTC)"]
        if zh
        else [
            "name",
            "key id",
            "scopes",
            "departments",
            "status",
            "last used (UTC)",
            "created (UTC)",
        ]
    )
    rows = [
        [
            k.name,
            k.key_id,
            ", ".join(k.scopes),
            ", ".join(k.departments),
            (f"已吊销 {_when(k.revoked_at)}" if zh else f"revoked {_when(k.revoked_at)}")
            if k.revoked_at
            else ("有效" if zh else "active"),
            _when(k.last_used_at),
            _when(k.created_at),
        ]
        for k in items
    ]
    out.print(rich_table("API 密钥 / API keys" if zh else "API keys", columns, rows))


@users_app.command("key-revoke")
def key_revoke(
    name: Annotated[str, typer.Argument(help="应用名或密钥 ID / the key's name or key id")],
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """吊销 API 密钥 / Revoke an API key."""
    from careops.identity import apikeys

    k = _call(apikeys.revoke_key, warehouse, state, name)
    out.print(f"已吊销 / revoked {safe(k.name)} ({safe(k.key_id)})")
