"""The dashboard: static pages the node serves at `/` from its API port, which read the node's
own JSON API and WebSocket in the browser. Nothing is built at install: `static/` holds plain
HTML, CSS and JavaScript (charts are SVG drawn by hand), shipped in the package.

Every response under `/` and `/dashboard/` carries a content security policy that allows only
the node's own scripts, styles and connections (no inline script, no other origin, no framing),
and `Cache-Control: no-cache`, so a browser revalidates (ETag, Last-Modified) and picks up a
new version after an upgrade. The pages read; the only thing they send is a transaction a
participant signed in the browser with a key the page holds and never sends (the participant
page), posted to `/txs` like any client's.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}


FILES = frozenset(p.name for p in STATIC.iterdir() if p.is_file())  # what /dashboard/{name} serves, nothing else


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound(text='{"error": "no such dashboard file"}', content_type="application/json")
    return web.FileResponse(STATIC / name)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith("/dashboard/"):
        response.headers.update(HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/dashboard/{name}", asset)
    app.on_response_prepare.append(_headers)
