"""`careops serve`: run the HTTP service."""

from __future__ import annotations

from typing import Annotated

import typer

from careops.cliutil import ops as open_ops
from careops.cliutil import safe


def serve(
    host: Annotated[str, typer.Option(help="监听地址 / address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="端口 (0: 任一空闲端口) / port (0: any free one)")
    ] = 8000,
    warehouse: Annotated[
        str | None, typer.Option("--warehouse", "-w", help="仓库 URL / warehouse URL")
    ] = None,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--with-worker",
            help="同时运行定时任务(每晚标签快照等) / also run the scheduled jobs (nightly tag "
            "snapshot, …) in this process",
        ),
    ] = False,
) -> None:
    """运行 HTTP 服务 / Run the HTTP service (API under /api/v1, OpenAPI at /openapi.json)."""
    import uvicorn

    from careops.api.app import create_app
    from careops.identity import passwords

    ops = open_ops(warehouse)
    app = create_app(
        ops.settings, warehouse=ops.warehouse_url, state=ops.state_url, worker=with_worker
    )
    if passwords.is_weak():
        typer.echo(
            "警告: api.argon2_* 低于 OWASP 的最低成本 (19 MiB, 2 次), 仅供测试; 生产请用默认值 / "
            "warning: api.argon2_* is below OWASP's floor (19 MiB, 2 passes), for tests only; "
            "use the defaults in production",
            err=True,
        )
    shown = port or "<见下行 / see below>"  # port 0: uvicorn's own line names the port taken
    typer.echo(f"CareOps API: http://{safe(host)}:{shown}/docs (Ctrl-C 停止 / to stop)")
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
