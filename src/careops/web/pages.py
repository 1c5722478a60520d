"""The cockpit's pages: thin shells like the API's routes.

Each page reads and checks its query (bounded, typed; a bad value is a 422 page naming the
field), builds the caller's `Ops` from the session cookie (no session: to the login page),
asks `careops.web.views` (which calls the domain services) and renders a Jinja2 template with
autoescaping. Errors become an HTML page with the status and the reason, never a traceback.
Pages are served under `/cockpit` on the API's origin and are not part of its OpenAPI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, Router

from careops.errors import CareOpsError, Forbidden, InvalidInput, TooManyRequests, Unauthorized
from careops.labels import label as _label
from careops.report.render import script_json
from careops.service import Ops
from careops.web import session, views
from careops.web.charts import effect_ci, layer_bars
from careops.web.session import PREFIX
from careops.web.texts import text

log = logging.getLogger("careops.web")

_ENV = Environment(
    loader=PackageLoader("careops.web", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: the Content-Security-Policy of every page: scripts from CareOps only (chart data travels
#: as JSON data blocks, never as inline script); no framing; forms post to this origin only
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
MAX_OFFSET = 10_000_000
MAX_TEXT = 128

# ---------------------------------------------------------------- request context


@dataclass
class Page:
    """One page request: who asks (`ops`, None before login), in which language, the form."""

    request: Request
    ops: Ops | None
    lang: str
    form: dict[str, str] = field(default_factory=dict)

    def t(self, key: str, **fields: object) -> str:
        return text(key, self.lang, **fields)

    def query(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        if value is None or value == "":
            return None
        if len(value) > MAX_TEXT or any(not c.isprintable() for c in value):
            raise InvalidInput(f"{name}: 过长或含控制字符 / too long or has control characters")
        return value

    def day(self, name: str, default: date | None = None) -> date:
        from careops.asof import check_day

        value = self.query(name)
        if value is None:
            if default is None:
                raise InvalidInput(f"{name}: 必填 / required (YYYY-MM-DD)")
            return default
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                f"{name}: 不是日期 / not a date (YYYY-MM-DD): {value[:20]!r}"
            ) from None
        assert self.ops is not None
        return check_day(day, self.ops.settings)

    def as_of(self) -> date:
        """The `as_of` asked for, else the date the cockpit opens on (`views.default_as_of`)."""
        assert self.ops is not None
        if self.query("as_of") is None:
            return views.default_as_of(self.ops)
        return self.day("as_of")

    def offset(self) -> int:
        value = self.query("offset") or "0"
        if not value.isdigit() or int(value) > MAX_OFFSET:
            raise InvalidInput(f"offset: 应为 0–{MAX_OFFSET} 的整数 / an integer 0–{MAX_OFFSET}")
        return int(value)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        ops = self.ops
        actor = ops.actor if ops else None
        here = self.request.url.path + (
            f"?{self.request.url.query}" if self.request.url.query else ""
        )
        token = session.session_token(self.request)
        html = _ENV.get_template(template).render(
            t=self.t,
            lang=self.lang,
            html_lang="zh-CN" if self.lang == "zh" else "en",
            prefix=PREFIX,
            nav=views.nav_for(actor) if actor else [],
            user=actor.name if actor else None,
            role=actor.roles[0] if actor and actor.roles else None,
            csrf=session.csrf_for_session(ops, token) if ops and token else "",
            other_lang="en" if self.lang == "zh" else "zh",
            lang_next=quote(session.safe_next(here), safe="/"),
            q=urlencode,
            label=_label,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})


def _error(page: Page, status: int, detail: str) -> HTMLResponse:
    key = f"error.{status}" if f"error.{status}" in _ERROR_KEYS else "error.500"
    return page.render(
        "error.html", status=status, status_code=status, message=page.t(key), detail=detail
    )


_ERROR_KEYS = {"error.403", "error.404", "error.422", "error.500", "error.503"}

Handler = Callable[[Page], Response]


def endpoint(handler: Handler, *, signed_in: bool = True) -> Callable:
    """A Starlette endpoint around `handler`: reads the form (POST), runs the handler in the
    thread pool with the caller's `Ops`, turns errors into pages."""

    async def run(request: Request) -> Response:
        form: dict[str, str] | None = {}
        if request.method == "POST":
            form = await _read_form(request)
        return await run_in_threadpool(_guarded, handler, request, form, signed_in)

    run.__name__ = handler.__name__
    return run


MAX_FORM = 8192


async def _read_form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form (the cockpit posts nothing else); None when it is not one."""
    from urllib.parse import parse_qsl

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    out: dict[str, str] = {}
    for k, v in pairs:  # a repeated field (checkboxes) is its values joined by commas
        out[k] = f"{out[k]},{v}" if k in out else v
    return out


def _guarded(
    handler: Handler, request: Request, form: dict[str, str] | None, signed_in: bool
) -> Response:
    page = Page(request, None, session.language(request), form or {})
    try:
        if form is None:
            raise InvalidInput("表单格式错误或过大 / the form is malformed or too large")
        if signed_in:
            try:
                page.ops = session.caller(request)
            except Unauthorized:
                return RedirectResponse(session.login_url(request), status_code=303)
        return handler(page)
    except CareOpsError as exc:
        if exc.status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc)
        return _error(page, exc.status, str(exc))
    except Exception:
        log.exception("cockpit page %s failed", request.url.path)
        return _error(page, 500, "")
    finally:
        if page.ops is not None:
            page.ops.close()


# ---------------------------------------------------------------- sign in and out


def login_form(page: Page) -> Response:
    value, fresh = session.login_csrf(page.request)
    return _login_page(page, value, fresh, error=None)


def _login_page(page: Page, csrf: str, fresh: bool, error: str | None, status: int = 200):
    nxt = session.safe_next(page.request.query_params.get("next"))
    response = page.render("login.html", status=status, login_csrf=csrf, next=nxt, error=error)
    if fresh:
        session.set_cookie(page.request, response, session.LOGIN_CSRF_COOKIE, csrf, 3600)
    return response


def login(page: Page) -> Response:
    from careops.identity import accounts

    value, fresh = session.login_csrf(page.request)
    if not session.check_login_csrf(page.request, page.form.get("csrf")):
        raise Forbidden("表单已过期, 请重试 / the form expired (CSRF check failed); try again")
    username = page.form.get("username", "")[:64]
    password = page.form.get("password", "")[:256]
    if not username or not password:
        return _login_page(page, value, fresh, page.t("login.failed"), status=401)
    anon = session.anonymous(page.request)
    try:
        token = accounts.login(anon, username, password, page.request.app.state.login_throttle)
    except TooManyRequests:
        return _login_page(page, value, fresh, page.t("login.throttled"), status=429)
    except Unauthorized:
        return _login_page(page, value, fresh, page.t("login.failed"), status=401)
    finally:
        anon.close()
    nxt = session.safe_next(page.form.get("next"))
    response = RedirectResponse(nxt, status_code=303)
    session.set_cookie(
        page.request, response, session.SESSION_COOKIE, token.access_token, token.expires_in
    )
    session.clear_cookie(page.request, response, session.LOGIN_CSRF_COOKIE)
    return response


def logout(page: Page) -> Response:
    from careops.identity import sessions

    assert page.ops is not None
    token = session.session_token(page.request) or ""
    if not session.check_session_csrf(page.ops, token, page.form.get("csrf")):
        raise Forbidden("表单已过期, 请重试 / the form expired (CSRF check failed); try again")
    sessions.logout(page.ops, token)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    session.clear_cookie(page.request, response, session.SESSION_COOKIE)
    return response


def switch_language(page: Page) -> Response:
    lang = page.request.path_params["lang"]
    if lang not in ("zh", "en"):
        raise InvalidInput("lang: zh 或 en / zh or en")
    response = RedirectResponse(
        session.safe_next(page.request.query_params.get("next")), status_code=303
    )
    session.set_cookie(page.request, response, session.LANG_COOKIE, lang, 365 * 86400)
    return response


def start(page: Page) -> Response:
    assert page.ops is not None
    allowed = views.nav_for(page.ops.actor)
    if not allowed:
        raise Forbidden("该角色没有可用页面 / this role has no cockpit page")
    return RedirectResponse(f"{PREFIX}/{allowed[0]}", status_code=303)


# ---------------------------------------------------------------- pages


def overview(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("metrics.read")
    as_of = page.as_of()
    cards = views.overview(page.ops, as_of, page.lang)
    return page.render("overview.html", active="overview", as_of=as_of, cards=cards)


def layers(page: Page) -> Response:
    from careops.tags.layers_report import DIMENSIONS

    assert page.ops is not None
    page.ops.require("tags.read")
    as_of = page.as_of()
    dimension = page.query("dimension") or "lifecycle"
    if dimension not in DIMENSIONS:
        raise InvalidInput(f"dimension: 应为 / one of {', '.join(DIMENSIONS)}")
    end = page.day("end", as_of)
    start_day = page.day("start", end - timedelta(days=30))
    if end <= start_day:
        raise InvalidInput("end: 结束日须晚于起始日 / must be after start")
    view = views.layers(page.ops, as_of, page.lang)
    matrix = views.migration(page.ops, start_day, end, dimension, page.lang)
    charts = {
        f"chart-{b.dimension}": layer_bars(
            [r.label for r in b.rows], [r.users for r in b.rows], page.t("layers.users")
        )
        for b in view.blocks
    }
    return page.render(
        "layers.html",
        active="layers",
        as_of=as_of,
        view=view,
        matrix=matrix,
        dimensions=[(d, views.layers_dimension_label(d, page.lang)) for d in DIMENSIONS],
        charts=script_json(charts),
        can_drill=page.ops.actor.can("segments.export") and page.ops.actor.can("patients.portrait"),
    )


def _funnel_query(page: Page) -> Any:
    from careops.web import funnels

    assert page.ops is not None
    steps = page.request.query_params.getlist("step")
    if len(steps) > funnels.MAX_STEPS:
        raise InvalidInput(f"step: 最多 {funnels.MAX_STEPS} 个步骤 / at most {funnels.MAX_STEPS}")
    for s in steps:
        if len(s) > MAX_TEXT or any(not c.isprintable() for c in s):
            raise InvalidInput("step: 过长或含控制字符 / too long or has control characters")
    return funnels.check_query(
        page.as_of(),
        steps,
        page.query("period_days"),
        page.query("conversion_days"),
        page.query("by"),
        page.query("grain"),
        page.query("cohort_days"),
        int(page.ops.settings.metrics.window_days),
    )


def funnels_page(page: Page) -> Response:
    from careops.report.charts import cohort_chart, funnel_chart
    from careops.web import funnels

    assert page.ops is not None
    page.ops.require("metrics.read")
    q = _funnel_query(page)
    view = funnels.funnels(page.ops, q, page.lang)
    charts = {"chart-funnel": funnel_chart(view.funnel, page.lang)}
    if view.cohort.rows:
        charts["chart-retention"] = cohort_chart(view.cohort, page.lang)
    return page.render(
        "funnels.html",
        active="funnels",
        view=view,
        q_=q,
        step_codes=[(c, _label_step(c, page.lang)) for c in funnels.step_codes()],
        step_slots=[q.steps[i] if i < len(q.steps) else "" for i in range(funnels.MAX_STEPS)],
        breakdowns=[
            (b, _label_by(b, page.lang) if b else page.t("funnels.by_none"))
            for b in funnels.BREAKDOWNS
        ],
        grains=funnels.GRAINS,
        days=funnels.RETENTION_DAYS,
        query_string=funnels.query_string(q),
        retention_height=max(300, 130 + 24 * len(view.cohort.rows)),
        charts=script_json(charts),
    )


def _label_step(code: str, lang: str) -> str:
    from careops.labels import funnel_step_label

    return funnel_step_label(code, lang)


def _label_by(by: str, lang: str) -> str:
    from careops.labels import by_label

    return by_label(by, lang)


def funnels_export(page: Page) -> Response:
    from careops.web import funnels

    assert page.ops is not None
    page.ops.require("metrics.read")
    what = page.request.path_params["what"]
    if what not in ("funnel", "cohort"):
        raise InvalidInput("what: funnel 或 cohort / funnel or cohort")
    q = _funnel_query(page)
    body = (funnels.funnel_csv if what == "funnel" else funnels.cohort_csv)(page.ops, q, page.lang)
    name = f"{what}-{q.as_of.isoformat()}{'-' + q.by if q.by else ''}.csv"
    return Response(
        "\ufeff" + body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def drill(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("segments.export")
    page.ops.require("patients.portrait")
    offset = page.offset()
    dimension = page.request.path_params["dimension"]
    code = page.request.path_params["code"]
    views.layer_rule(dimension, code)  # an unknown layer is refused before any reading
    view = views.drill(page.ops, dimension, code, page.as_of(), offset, page.lang)
    return page.render("drill.html", active="layers", view=view)


def drill_export(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("segments.export")
    dimension = page.request.path_params["dimension"]
    code = page.request.path_params["code"]
    views.layer_rule(dimension, code)
    as_of = page.as_of()
    ids = views.drill_export(page.ops, dimension, code, as_of)
    body = "user_id\r\n" + "".join(f"{i}\r\n" for i in ids)
    name = f"layer-{dimension}-{code}-{as_of.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def portrait_search(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("patients.portrait")
    user_id = page.query("user_id")
    if user_id:
        qs = urlencode({"as_of": page.query("as_of") or ""}) if page.query("as_of") else ""
        return RedirectResponse(
            f"{PREFIX}/patients/{quote(user_id, safe='')}" + (f"?{qs}" if qs else ""),
            status_code=303,
        )
    return page.render("portrait_find.html", active="portrait")


def portrait(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("patients.portrait")
    as_of = page.as_of()
    user_id = page.request.path_params["user_id"]
    view = views.portrait(page.ops, user_id, as_of, page.lang)
    return page.render("portrait.html", active="portrait", view=view)


def recommendations(page: Page) -> Response:
    """The portrait's recommendations, an htmx fragment (computed on request: they are not
    stored), for roles holding `models.read` within the patient scope."""
    assert page.ops is not None
    page.ops.require("models.read")
    user_id = page.request.path_params["user_id"]
    items, model_id = views.recommendations(page.ops, user_id, page.as_of())
    return page.render("recommendations.html", items=items, model_id=model_id)


def records(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("patients.clinical")
    user_id = page.request.path_params["user_id"]
    kind = page.request.path_params["kind"]
    view = views.records(page.ops, user_id, kind, page.offset(), page.lang)
    partial = page.request.headers.get("hx-request") == "true"
    return page.render(
        "records_body.html" if partial else "records.html",
        active="portrait",
        user_id=user_id,
        kind_label=views.kind_label(kind, page.lang),
        view=view,
    )


def audit(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("audit.read")
    filters = {k: page.query(k) for k in ("actor", "action", "subject")}
    view = views.audit(
        page.ops,
        page.lang,
        offset=page.offset(),
        verify=page.query("verify") == "1",
        **filters,
    )
    return page.render("audit.html", active="audit", view=view, filters=filters)


def _check_csrf(page: Page) -> None:
    """A signed-in form post must carry this session's CSRF token."""
    assert page.ops is not None
    token = session.session_token(page.request) or ""
    if not session.check_session_csrf(page.ops, token, page.form.get("csrf")):
        raise Forbidden("表单已过期, 请重试 / the form expired (CSRF check failed); try again")


def tasks(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("tasks.read")
    status = page.query("status") or "open"
    view = views.tasks(page.ops, status, page.offset(), page.lang)
    closed = page.query("closed")
    return page.render(
        "tasks.html",
        active="tasks",
        view=view,
        statuses=views.TASK_STATUSES,
        closed=closed if closed and closed.isdigit() else None,
    )


def task_finish(page: Page) -> Response:
    assert page.ops is not None
    _check_csrf(page)
    raw = page.request.path_params["task_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput(f"task_id: 应为整数 / an integer, not {raw[:20]!r}")
    views.finish_task(page.ops, int(raw), page.form.get("action", ""), page.form.get("note", ""))
    status = page.form.get("status", "open")
    status = status if status in views.TASK_STATUSES else "open"
    return RedirectResponse(
        f"{PREFIX}/tasks?{urlencode({'status': status, 'closed': raw})}", status_code=303
    )


MAX_KEY = 64


def _key(page: Page) -> str:
    key = page.request.path_params["key"]
    if not key or len(key) > MAX_KEY or any(not c.isprintable() for c in key):
        raise InvalidInput(f"key: 1–{MAX_KEY} 个可打印字符 / 1–{MAX_KEY} printable characters")
    return key


def experiments(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("experiments.read")
    rows = views.experiments(page.ops, page.lang)
    stopped = page.query("stopped")
    return page.render(
        "experiments.html",
        active="experiments",
        rows=rows,
        stopped=stopped,
        can_create=page.ops.actor.can("experiments.write"),
    )


def experiment(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("experiments.read")
    key = _key(page)
    as_of = page.day("as_of") if page.query("as_of") else None
    view = views.experiment(page.ops, key, as_of, page.lang)
    charts = {}
    for i, m in enumerate(view.metrics):
        arms = [a for a in m.arms if a.ci is not None and a.lift_value is not None]
        if arms:
            charts[f"chart-effect-{i}"] = effect_ci(
                [a.variant for a in arms],
                [float(a.lift_value or 0.0) for a in arms],
                [a.ci for a in arms if a.ci is not None],
                page.t("experiments.estimate"),
                page.t("experiments.interval", level=m.level),
            )
    return page.render(
        "experiment.html",
        active="experiments",
        view=view,
        charts=script_json(charts),
        stopped=page.query("stopped") is not None,
        created=page.query("created") is not None,
    )


def experiment_new(page: Page) -> Response:
    """The 新建实验 form (GET, optionally on `?segment=`) and its post (CSRF, audited by the
    experiments service); an invalid form comes back with what was typed and the error."""
    from careops.web import experiment_new as new

    assert page.ops is not None
    page.ops.require("experiments.write")
    if page.request.method == "POST":
        _check_csrf(page)
        key, form = new.create(page.ops, page.form, page.lang)
        if key is not None:
            return RedirectResponse(
                f"{PREFIX}/experiments/{quote(key, safe='')}?created=1", status_code=303
            )
        return page.render("experiment_new.html", status=422, active="experiments", form=form)
    form = new.blank_form(page.ops, page.query("segment"), views.default_as_of(page.ops), page.lang)
    return page.render("experiment_new.html", active="experiments", form=form)


def experiment_stop(page: Page) -> Response:
    assert page.ops is not None
    _check_csrf(page)
    key = _key(page)
    views.stop_experiment(page.ops, key)
    return RedirectResponse(
        f"{PREFIX}/experiments/{quote(key, safe='')}?stopped=1", status_code=303
    )


def _rule_query(page: Page) -> str | None:
    """The rule of the query string (longer than other query values; see `views.MAX_RULE`)."""
    value = page.request.query_params.get("rule")
    if value is None or not value.strip():
        return None
    return views.check_rule_text(value)


def segments(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("segments.read")
    as_of = page.as_of()
    rule = _rule_query(page)
    name = page.query("segment")
    if rule is None and name:
        rule = views.saved_rule(page.ops, name)
    result = views.segment_result(page.ops, rule, as_of, page.lang) if rule else None
    saved = page.query("saved")
    return page.render(
        "segments.html",
        status=422 if result and result.error else 200,
        active="segments",
        as_of=as_of,
        rule=rule or "",
        result=result,
        saved_list=views.saved_segments(page.ops),
        saved=saved,
        version=page.query("version") or "",
        can_save=page.ops.actor.can("segments.write"),
        can_export=page.ops.actor.can("segments.export"),
        can_experiment=page.ops.actor.can("experiments.write"),
        vocabulary=views.rule_vocabulary(page.lang),
    )


def segment_count(page: Page) -> Response:
    """The live count (an htmx fragment): a bad rule is shown in the fragment, not an error
    page, so the box keeps answering as the rule is typed."""
    assert page.ops is not None
    page.ops.require("segments.read")
    as_of = page.as_of()
    rule = _rule_query(page)
    result = views.segment_result(page.ops, rule, as_of, page.lang) if rule else None
    return page.render("segments_result.html", result=result)


def segment_save(page: Page) -> Response:
    assert page.ops is not None
    _check_csrf(page)
    saved = views.save_segment(
        page.ops,
        page.form.get("name", "").strip(),
        page.form.get("rule", ""),
        page.form.get("description", ""),
        page.lang,
    )
    query = urlencode({"segment": saved.name, "saved": saved.name, "version": saved.version})
    return RedirectResponse(f"{PREFIX}/segments?{query}", status_code=303)


def segment_export(page: Page) -> Response:
    """A saved segment's (or a rule's) patient ids as CSV: ids only, for roles holding
    `segments.export` (as the API's export), each page read audited as `segment.export`."""
    from careops.segments.service import Target

    assert page.ops is not None
    page.ops.require("segments.export")
    as_of = page.as_of()
    rule = _rule_query(page)
    name = page.query("segment")
    if (rule is None) == (name is None):
        raise InvalidInput("segment: 请给出已保存人群或规则之一 / give a saved segment or a rule")
    if name is not None and not re.fullmatch(r"[\w\-]{1,64}", name):
        raise InvalidInput(f"segment: 不是人群名 / not a segment name: {name[:40]!r}")
    target = Target(segment=name) if name else Target(rule=rule)
    ids = views.export_ids(page.ops, target, as_of)
    body = "user_id\r\n" + "".join(f"{i}\r\n" for i in ids)
    filename = f"segment-{name or 'rule'}-{as_of.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def journeys(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("journeys.read")
    rows = views.journeys(page.ops, page.lang)
    return page.render("journeys.html", active="journeys", rows=rows)


def journey(page: Page) -> Response:
    assert page.ops is not None
    page.ops.require("journeys.read")
    view = views.journey(page.ops, _key(page), page.lang)
    switched = page.query("switched")
    return page.render(
        "journey.html",
        active="journeys",
        view=view,
        counts=views.STEP_COUNTS,
        switched=switched if switched in ("on", "off") else None,
    )


def journey_switch(page: Page) -> Response:
    assert page.ops is not None
    _check_csrf(page)
    key = _key(page)
    action = page.request.path_params["action"]
    if action not in ("enable", "disable"):
        raise InvalidInput("action: 应为 enable 或 disable / enable or disable")
    views.switch_journey(page.ops, key, action == "enable", page.form.get("note", ""))
    state = "on" if action == "enable" else "off"
    return RedirectResponse(
        f"{PREFIX}/journeys/{quote(key, safe='')}?switched={state}", status_code=303
    )


def triage(page: Page) -> Response:
    """The triage box; a post (CSRF) answers, as a fragment for htmx. The complaint travels in
    the body of a post only, so it is in no address, access log or history."""
    assert page.ops is not None
    page.ops.require("triage.run")
    result, text_value, error = None, "", None
    if page.request.method == "POST":
        _check_csrf(page)
        text_value = page.form.get("text", "")
        try:
            result = views.triage(page.ops, page.request.app.state, text_value)
        except InvalidInput as exc:  # shown beside the box, which keeps what was typed
            error = str(exc)
    if page.request.headers.get("hx-request") == "true":  # htmx swaps a 200 only
        return page.render("triage_result.html", result=result, error=error)
    return page.render(
        "triage.html",
        status=422 if error else 200,
        active="triage",
        result=result,
        error=error,
        text_value=text_value,
        max_text=views.MAX_TRIAGE_TEXT,
    )


# ---------------------------------------------------------------- static assets

#: the files the cockpit serves: name -> (package, path, media type)
STATIC: dict[str, tuple[str, str, str]] = {
    "echarts.min.js": ("careops.report", "static/echarts.min.js", "text/javascript"),
    "htmx.min.js": ("careops.web", "static/htmx.min.js", "text/javascript"),
    "cockpit.js": ("careops.web", "static/cockpit.js", "text/javascript"),
    "cockpit.css": ("careops.web", "static/cockpit.css", "text/css"),
    "favicon.svg": ("careops.web", "static/favicon.svg", "image/svg+xml"),
}


def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    package, path, media = STATIC[name]
    body = resources.files(package).joinpath(path).read_bytes()
    charset = "" if media.startswith("image/") else "; charset=utf-8"
    return Response(body, media_type=media + charset)


def not_found(page: Page) -> Response:
    from careops.errors import NotFound

    raise NotFound("没有这个页面 / no such page")


def router() -> Router:
    """The cockpit's routes (mounted at `/cockpit` by `careops.api.routes.web`)."""
    get, post = ["GET"], ["POST"]
    return Router(
        routes=[
            Route("/", endpoint(start), methods=get),
            Route("/login", endpoint(login_form, signed_in=False), methods=get),
            Route("/login", endpoint(login, signed_in=False), methods=post),
            Route("/logout", endpoint(logout), methods=post),
            Route("/lang/{lang}", endpoint(switch_language, signed_in=False), methods=get),
            Route("/overview", endpoint(overview), methods=get),
            Route("/layers", endpoint(layers), methods=get),
            Route("/funnels", endpoint(funnels_page), methods=get),
            Route("/funnels/{what}.csv", endpoint(funnels_export), methods=get),
            Route("/layers/{dimension}/{code}", endpoint(drill), methods=get),
            Route("/layers/{dimension}/{code}/export.csv", endpoint(drill_export), methods=get),
            Route("/portrait", endpoint(portrait_search), methods=get),
            Route("/patients/{user_id}", endpoint(portrait), methods=get),
            Route("/patients/{user_id}/records/{kind}", endpoint(records), methods=get),
            Route("/patients/{user_id}/recommendations", endpoint(recommendations), methods=get),
            Route("/tasks", endpoint(tasks), methods=get),
            Route("/tasks/{task_id}/finish", endpoint(task_finish), methods=post),
            Route("/experiments", endpoint(experiments), methods=get),
            Route("/experiments/new", endpoint(experiment_new), methods=["GET", "POST"]),
            Route("/experiments/{key}", endpoint(experiment), methods=get),
            Route("/experiments/{key}/stop", endpoint(experiment_stop), methods=post),
            Route("/segments", endpoint(segments), methods=get),
            Route("/segments/count", endpoint(segment_count), methods=get),
            Route("/segments/save", endpoint(segment_save), methods=post),
            Route("/segments/export.csv", endpoint(segment_export), methods=get),
            Route("/journeys", endpoint(journeys), methods=get),
            Route("/journeys/{key}", endpoint(journey), methods=get),
            Route("/journeys/{key}/{action}", endpoint(journey_switch), methods=post),
            Route("/triage", endpoint(triage), methods=["GET", "POST"]),
            Route("/audit", endpoint(audit), methods=get),
            Route("/static/{name}", static, methods=get),
            Route("/{path:path}", endpoint(not_found, signed_in=False), methods=get),
        ]
    )
