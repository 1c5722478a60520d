"""Delivery receipts (回执) pushed by the channel providers: Alibaba Cloud SMS (SmsReport HTTP
push), Tencent Cloud SMS (status callback) and WeChat (event push). No bearer credential: a
provider proves itself by the WeChat push signature, or by the shared token of the callback URL
(`careops.journeys.receipt_intake`). The answer is the acknowledgement each provider expects.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from careops.api.deps import anonymous_ops
from careops.journeys import receipt_intake
from careops.service import Ops

router = APIRouter(prefix="/receipts", tags=["receipts"])

Anonymous = Annotated[Ops, Depends(anonymous_ops)]
Param = Annotated[str | None, Query(max_length=256, description="提供方回调参数 / provider's")]
ERRORS = {
    403: {"description": "签名或令牌不符, 或未配置 / bad signature or token, or not configured"},
    413: {"description": "请求过大 / request body too large"},
    422: {"description": "回执格式错误(指明条目与字段) / malformed report (item and field)"},
}


def _query(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


@router.post(
    "/{provider}",
    summary="接收送达回执 / receive a provider's delivery receipts",
    response_class=Response,
    responses={
        200: {
            "description": "提供方要求的确认 / the acknowledgement the provider expects",
            "content": {"application/json": {}, "text/plain": {}},
        },
        **ERRORS,
    },
)
async def receive(
    request: Request,
    ops: Anonymous,
    provider: Annotated[
        Literal["aliyun", "tencent", "wechat"], Path(description="回执来源 / provider")
    ],
    token: Param = None,
    signature: Param = None,
    timestamp: Param = None,
    nonce: Param = None,
    openid: Param = None,
    encrypt_type: Param = None,
    msg_signature: Param = None,
) -> Response:
    """Delivered receipts become `message_delivered` events (idempotent by the send), failed
    ones mark the send failed with the provider's code; a receipt for no known send is
    acknowledged and counted, never an error (the provider would push it again)."""
    body = await request.body()
    out = await run_in_threadpool(
        receipt_intake.record_receipts, ops, provider, body, _query(request)
    )
    return Response(content=out.ack, media_type=out.ack_type)


@router.get(
    "/wechat",
    summary="微信服务器地址校验 / WeChat server URL check",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **ERRORS},
)
def wechat_check(
    request: Request,
    ops: Anonymous,
    signature: Param = None,
    timestamp: Param = None,
    nonce: Param = None,
    echostr: Param = None,
) -> PlainTextResponse:
    """Answers `echostr` when the signature over the push token matches (WeChat calls this
    once when the server URL is configured)."""
    return PlainTextResponse(receipt_intake.verify_wechat_url(ops, _query(request)))
