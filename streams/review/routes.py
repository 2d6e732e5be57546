"""The review pages as aiohttp routes, over any ``Backend`` (the worker's ClickHouse thread, or
``signals serve``'s own client): ``/`` the queue, ``/t/<id>`` a trajectory, ``POST /t/<id>/label``.

Every query goes through the ops of ``sinks.service`` (sample, trajectory, label, labels); no SQL here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, quote, unquote

from aiohttp import web

from sinks.gateway import NotMigrated
from sinks.labels import DEFAULT_REVIEWER, LABELS
from sinks.service import QueryError, parse_body
from streams.review import auth
from streams.review.pages import (
    FILTERS,
    KEYS,
    BadFilter,
    event_views,
    form_context,
    label_index,
    neighbours,
    query_string,
    queue_params,
    render,
)

log = logging.getLogger("signals.review")
STATIC: Final = Path(__file__).parent / "static"
REVIEWER_COOKIE: Final = "signals_reviewer"
QUEUE_DEFAULTS: Final = {"strategy": "signals", "n": 50, "seed": 0}
Rows = list[dict[str, Any]]


class Backend(Protocol):
    async def query(self, op: str, params: dict[str, Any]) -> Rows: ...


@dataclass(frozen=True)
class Review:
    backend: Backend
    database: str
    token: str = ""
    reviewer: str = ""

    async def ask(self, op: str, params: dict[str, Any]) -> Rows:
        return await self.backend.query(op, {**params, "database": self.database})


def page(text: str, status: int = 200) -> web.Response:
    return web.Response(status=status, content_type="text/html", text=text)


def message(heading: str, text: str, status: int, review: Review) -> web.Response:
    return page(render("message.html", heading=heading, text=text, alert=status >= 400,
                       signed_in=bool(review.token)), status)


def failure_page(error: Exception, review: Review) -> web.Response:
    if isinstance(error, QueryError | BadFilter):
        return message("Bad request", str(error), 400, review)
    if isinstance(error, NotMigrated):
        return message("Nothing loaded yet", f"{error}: run `signals load FILE` or start a worker.", 503, review)
    log.warning("review page failed: %s", error)
    return message("ClickHouse is not answering", f"{type(error).__name__}: {error}", 503, review)


def queue_handler(review: Review) -> Any:
    async def queue(request: web.Request) -> web.Response:
        params: dict[str, Any] = {}
        try:
            params = {**QUEUE_DEFAULTS, **queue_params(request.query)}
            rows = await review.ask("sample", params)
            labels = label_index(await review.ask("labels", {"ids": [r["id"] for r in rows]})) if rows else {}
        except (QueryError, BadFilter) as error:
            return page(render("queue.html", rows=[], labels={}, qs="", error=str(error), empty_hint="",
                               signed_in=bool(review.token), **form_context(params)), 400)
        except Exception as error:
            return failure_page(error, review)
        alerts = [alert_text(a) for a in await recent_alerts(review, params)]
        return page(render("queue.html", rows=rows, labels=labels, qs=query_string(params), error="", alerts=alerts,
                           empty_hint="load trajectories with `signals load FILE`", signed_in=bool(review.token),
                           **form_context(params)))
    return queue


ALERTS_SHOWN: Final = 10


async def recent_alerts(review: Review, params: dict[str, Any]) -> Rows:
    """The newest spike alerts (op ``alerts`` of sinks/service.py, from the alerts work: agent_id,
    category, window_start, window_end, count, baseline) for the queue's agent; [] where that op or
    its table does not exist (yet), so the queue never fails for want of alerts."""
    try:
        return await review.ask("alerts", {"n": ALERTS_SHOWN, **({"agent": params["agent"]} if params.get("agent") else {})})
    except Exception as error:
        log.debug("no alerts shown: %s", error)
        return []


def alert_text(alert: dict[str, Any]) -> str:
    start = datetime.fromtimestamp(int(alert["window_start"]), UTC).strftime("%Y-%m-%d %H:%M")
    end = datetime.fromtimestamp(int(alert["window_end"]), UTC).strftime("%H:%M")
    return (f"{alert['agent_id'] or 'agent?'} · {alert['category']}: {alert['count']} signals "
            f"in {start}–{end} UTC (baseline {float(alert['baseline']):.1f})")


def trajectory_handler(review: Review) -> Any:
    async def trajectory(request: web.Request) -> web.Response:
        tid = request.match_info["tid"]
        try:
            found = await review.ask("trajectory", {"id": tid})
            if not found:
                return message("Not found", f"No trajectory {tid!r} is stored.", 404, review)
            given = await review.ask("labels", {"ids": [tid]})
            queue = queue_params(request.query)
            ids = [r["id"] for r in await review.ask("sample", {**QUEUE_DEFAULTS, **queue})] if queue else []
        except Exception as error:
            return failure_page(error, review)
        bundle, reviewer = found[0], reviewer_of(request, review)
        events, orphans = event_views(bundle["events"], bundle["signals"])
        own = next((row for row in given if row["reviewer"] == reviewer), None)
        prev_id, next_id, position = neighbours(ids, tid)
        return page(render(
            "trajectory.html", tid=tid, record=bundle["record"], events=events, orphans=orphans, labels=given,
            label_names=LABELS, keys=KEYS, reviewer=reviewer, own_label=own["label"] if own else "",
            own_note=own["note"] if own else "", saved=request.query.get("saved", "") if own else "",
            qs=query_string(queue), prev_id=prev_id, next_id=next_id, position=position, queue_size=len(ids),
            signed_in=bool(review.token)))
    return trajectory


def label_handler(review: Review) -> Any:
    async def label(request: web.Request) -> web.StreamResponse:
        tid = request.match_info["tid"]
        form = await request.post()
        reviewer = str(form.get("reviewer", "")).strip() or reviewer_of(request, review)
        try:
            saved = await review.ask("label", {"id": tid, "label": str(form.get("label", "")), "reviewer": reviewer,
                                               "note": str(form.get("note", "")),
                                               "pipeline_version": str(form.get("pipeline_version", ""))})
        except Exception as error:
            return failure_page(error, review)
        queue = {k: v for k, v in parse_qsl(str(form.get("queue", ""))) if k in FILTERS}
        target = f"/t/{quote(tid, safe='')}?" + query_string({**queue, "saved": saved[0]["label"]})
        response = auth.see_other(target)
        response.set_cookie(REVIEWER_COOKIE, quote(reviewer, safe=""), httponly=True, samesite="Strict", path="/",
                            max_age=365 * 86400)
        return response
    return label


def reviewer_of(request: web.Request, review: Review) -> str:
    return unquote(request.cookies.get(REVIEWER_COOKIE, "")) or review.reviewer or DEFAULT_REVIEWER


def query_handler(review: Review) -> Any:
    """``POST /signals/query`` for ``signals serve`` (the worker has its own): the sinks.gateway contract."""
    async def query(request: web.Request) -> web.Response:
        try:
            op, params = parse_body(await request.read())
            rows = await review.backend.query(op, params)
        except QueryError as error:
            return web.json_response({"error": str(error)}, status=400)
        except Exception as error:
            return web.json_response({"error": f"ClickHouse: {error}"}, status=503)
        return web.json_response({"rows": rows}, dumps=_dumps)
    return query


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def page_routes(review: Review) -> list[web.AbstractRouteDef]:
    """The pages, their static files and (with a token) the login form: what the worker mounts."""
    found: list[web.AbstractRouteDef] = [
        web.get("/", queue_handler(review)),
        web.get("/t/{tid}", trajectory_handler(review)),
        web.post("/t/{tid}/label", label_handler(review)),
        web.static("/static", STATIC),
    ]
    return found + (auth.login_routes(review.token) if review.token else [])


def application(review: Review) -> web.Application:
    """The whole app of ``signals serve``: pages + ``POST /signals/query``, behind the token check."""
    app = web.Application(middlewares=[auth.middleware(review.token)])
    app.add_routes([*page_routes(review), web.post("/signals/query", query_handler(review))])
    return app
