"""`careops privacy …`: patients' rights under PIPL (a thin shell over `careops.privacy`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from careops.cliutil import JsonOpt, StateOpt, WarehouseOpt, err, out, print_json, rich_table, safe
from careops.cliutil import ops as open_ops
from careops.privacy.data_cli import export_command, rotate_key_command

privacy_app = typer.Typer(
    help="患者隐私 / Privacy (PIPL): erase a patient, rotate the contacts key, de-identified "
    "exports.",
    no_args_is_help=True,
)


@privacy_app.command("erase")
def erase(
    user_id: Annotated[str, typer.Argument(help="患者 user_id / the patient to erase")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="不再确认 / do not ask")] = False,
    json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """删除一名患者的全部数据 (不可撤销) / Erase a patient from every table (cannot be undone).

    Removes the patient from every warehouse table (facts, contacts, tag snapshots, segment
    memberships, quarantined rows, model scores) and every state-store row; other patients'
    references to them are cut. The audit trail is kept; the erasure's entry names the patient
    only by a keyed hash.
    """
    from careops.privacy.erase import erase_patient

    if not yes:
        if not sys.stdin.isatty():
            err.print(
                "删除不可撤销: 请加 --yes 确认 / erasure cannot be undone: confirm with --yes",
                highlight=False,
            )
            raise typer.Exit(2)
        typer.confirm(
            f"删除患者 {user_id} 的全部数据? / Erase every record of patient {user_id}?",
            abort=True,
        )
    ops = open_ops(warehouse, state)
    try:
        report = erase_patient(ops, user_id)
    finally:
        ops.close()
    if json:
        print_json(
            {
                "subject_hash": report.subject_hash,
                "warehouse": report.warehouse,
                "state": report.state,
                "total": report.total,
            }
        )
        return
    rows = [["仓库 warehouse", t, n] for t, n in sorted(report.warehouse.items())]
    rows += [["状态库 state", t, n] for t, n in sorted(report.state.items())]
    out.print(
        rich_table(f"已删除 / erased: {report.total}", ["库 store", "表 table", "行 rows"], rows)
    )
    out.print(f"审计记录中的患者标识 / audit names the patient as: {safe(report.subject_hash)}")


privacy_app.command("rotate-key")(rotate_key_command)
privacy_app.command("export")(export_command)
