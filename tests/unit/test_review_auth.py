"""The token check of the web servers (streams/review/auth.py) on a real aiohttp server."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.review import auth
from streams.settings import Settings

TOKEN = "s3cret-token"


def app(token: str) -> web.Application:
    async def data(request: web.Request) -> web.Response:
        return web.json_response({"rows": [1]})

    application = web.Application(middlewares=[auth.middleware(token)])
    application.add_routes([web.get("/", data), web.post("/signals/query", data), *auth.login_routes(token)])
    return application


def run(token: str, steps: Any) -> Any:
    async def main() -> Any:
        async with TestClient(TestServer(app(token))) as client:
            return await steps(client)
    return asyncio.run(main())


def test_without_a_token_configured_everything_is_open() -> None:
    async def steps(client: TestClient) -> int:
        return (await client.get("/")).status
    assert run("", steps) == 200


def test_every_route_wants_the_bearer_token_or_the_login_cookie() -> None:
    async def steps(client: TestClient) -> list[Any]:
        out = [(await client.post("/signals/query")).status,
               (await client.post("/signals/query", headers={"Authorization": "Bearer wrong"})).status,
               (await client.post("/signals/query", headers={"Authorization": f"Bearer {TOKEN}"})).status]
        page = await client.get("/", headers={"Accept": "text/html"})
        out += [page.status, 'id="token"' in await page.text()]
        bad = await client.post("/login", data={"token": "nope", "next": "/"}, allow_redirects=False)
        out.append(bad.status)
        good = await client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"}, allow_redirects=False)
        out += [good.status, good.headers["Location"], TOKEN not in good.headers.get("Set-Cookie", "")]
        out.append((await client.get("/")).status)  # the cookie now
        out.append((await client.post("/signals/query", headers={"Origin": "http://evil.example"})).status)
        return out
    assert run(TOKEN, steps) == [401, 401, 200, 401, True, 401, 303, "/", True, 200, 403]


def test_the_token_comes_from_a_file_and_is_never_shown(tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    settings = Settings.from_env(env={"SIGNALS_WEB_TOKEN_FILE": str(path)})
    assert settings.web_token == TOKEN and settings.masked()["web_token"] == "***"
    assert (settings.web_host, settings.metrics_host, settings.web_builtin_views) == ("127.0.0.1", "127.0.0.1", False)
