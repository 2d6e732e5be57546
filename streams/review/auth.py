"""Access to the web servers when SIGNALS_WEB_TOKEN is set: every page and API call needs the token.

Programs send ``Authorization: Bearer <token>``; browsers sign in once on ``/login`` (a form), which
sets an HttpOnly, SameSite=Strict cookie holding an HMAC of the token (never the token itself).
Comparisons are constant-time (``hmac.compare_digest``). Anything else gets 401: the login form for
a browser asking for a page, JSON with ``WWW-Authenticate: Bearer`` for the rest. The stylesheet and
script under ``/static/`` hold no data and are open, so the login form is styled. Without a token
nothing is checked: the servers listen on 127.0.0.1 by default.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from streams.review.pages import render

COOKIE: Final = "signals_session"
OPEN_PREFIXES: Final = ("/static/", "/login")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_value(token: str) -> str:
    """What the login cookie holds: an HMAC of the token, useless as a Bearer token."""
    return hmac.new(token.encode(), b"agent-signals review session", hashlib.sha256).hexdigest()


def bearer_ok(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def cookie_ok(request: web.Request, token: str) -> bool:
    given = request.cookies.get(COOKIE, "")
    return bool(given) and hmac.compare_digest(given.encode(), session_value(token).encode())


def same_origin(request: web.Request) -> bool:
    """A cookie-authenticated POST must come from a page of this server (SameSite aside)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def wants_page(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def unauthorised(request: web.Request) -> web.Response:
    if wants_page(request):
        return web.Response(status=401, content_type="text/html",
                            text=render("login.html", next=request.path_qs, failed=False, signed_in=False))
    return web.json_response({"error": "this server wants its token: Authorization: Bearer <SIGNALS_WEB_TOKEN>"},
                             status=401, headers={"WWW-Authenticate": 'Bearer realm="agent-signals"'})


def middleware(token: str) -> Any:
    """Checks every request of an aiohttp application (pages, API, and anything else mounted)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not token or request.path.startswith(OPEN_PREFIXES):
            return await handler(request)
        if bearer_ok(request, token):
            return await handler(request)
        if cookie_ok(request, token):
            if request.method != "GET" and not same_origin(request):
                return web.json_response({"error": "cross-origin request refused"}, status=403)
            return await handler(request)
        return unauthorised(request)

    return check


def safe_next(target: str) -> str:
    """Only a path on this server (no scheme, no host, no ``//``) is followed after signing in."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def see_other(target: str) -> web.Response:
    return web.Response(status=303, headers={"Location": target})


def login_routes(token: str) -> list[web.RouteDef]:
    async def form(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=render(
            "login.html", next=safe_next(request.query.get("next", "/")), failed=False, signed_in=False))

    async def sign_in(request: web.Request) -> web.StreamResponse:
        data = await request.post()
        given, target = str(data.get("token", "")), safe_next(str(data.get("next", "/")))
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(status=401, content_type="text/html",
                                text=render("login.html", next=target, failed=True, signed_in=False))
        response = see_other(target)
        response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict", path="/",
                            secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https")
        return response

    async def sign_out(request: web.Request) -> web.StreamResponse:
        response = see_other("/login")
        response.del_cookie(COOKIE, path="/")
        return response

    return [web.get("/login", form), web.post("/login", sign_in), web.post("/logout", sign_out)]
