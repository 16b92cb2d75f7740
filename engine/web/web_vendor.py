"""Browser libraries from npm that the engine serves itself (no CDN: pages work offline under the
CSP): `make install` runs `npm ci` (package-lock.json pins each with its integrity), the image gets
the same tarballs (containers/fetch_web_vendor.py). A library that is missing answers a 404 that
says so, and the log says how to install it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
CHARTJS_DIST = NODE_MODULES / "chart.js" / "dist"
"""Chart.js 4: the supervisor's wallboard and the reports' charts load its UMD build, dist/chart.umd.min.js."""


def vendor_file(library: Path, relative: str) -> Path | None:
    """A .js file of `library`'s folder, or None (not there, not .js, or outside it)."""
    if not relative.endswith(".js") or "\\" in relative or "\x00" in relative:
        return None
    folder = library.resolve()  # node_modules may be a link to a shared install
    candidate = (folder / relative).resolve()
    if not candidate.is_relative_to(folder) or not candidate.is_file():
        return None
    return candidate


def vendor_answer(library: Path, name: str, used_by: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    """The route handler for /static/vendor/<name>/{path}: the file as JavaScript, or a 404 that
    tells the missing install apart from a wrong path."""

    async def answer(request: web.Request) -> web.FileResponse:
        found = await asyncio.to_thread(vendor_file, library, request.match_info["path"])
        if found is None:
            if not await asyncio.to_thread(library.is_dir):
                log.error("%s %s is not installed (%s is missing): run `make install` (npm ci)", used_by, name, library)
                raise web.HTTPNotFound(text=f"{name} is not installed on this server: the operator runs `make install`")
            raise web.HTTPNotFound(text=f"no such {name} module")
        return web.FileResponse(found, headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=3600"})

    return answer


chartjs_answer = vendor_answer(CHARTJS_DIST, "Chart.js", "the supervisor's and reports' charts:")
