"""A lookup never follows a redirect: the CRM's API headers must not travel to another host, the
lookup is recorded as failed, and no cookie a CRM sets reaches the next call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import run_sipp

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
API_KEY = "crm-api-key-that-must-stay-home"

FLOW = """\
flow: look
language: en
start: find
nodes:
  find: {type: lookup, endpoint: crm, params: {phone: "{caller_number}"}, into: customer, next: found, on_failure: failed}
  found: {type: say, prompt: Found you., next: bye}
  failed: {type: say, prompt: Not found., next: bye}
  bye: {type: hangup}
"""


async def serve(handler: web.RequestHandler, port: int) -> web.AppRunner:  # type: ignore[type-arg]
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def redirecting_crm() -> AsyncIterator[tuple[str, list[dict[str, str]], list[dict[str, str]]]]:
    """A CRM that answers every lookup with a redirect to another port (another host, as far as the
    engine can tell) and sets a cookie; the other port records what reaches it."""
    crm_port, elsewhere_port = free_port(), free_port()
    at_crm: list[dict[str, str]] = []
    elsewhere: list[dict[str, str]] = []

    async def crm(request: web.Request) -> web.Response:
        at_crm.append(dict(request.headers))
        response = web.Response(status=302, headers={"Location": f"http://127.0.0.1:{elsewhere_port}/steal"})
        response.set_cookie("crm_session", "per-caller-secret")
        return response

    async def other_host(request: web.Request) -> web.Response:
        elsewhere.append(dict(request.headers))
        return web.json_response({"found": True, "name": "stolen"})

    runners = [await serve(crm, crm_port), await serve(other_host, elsewhere_port)]
    try:
        yield f"http://localhost:{crm_port}/customers", at_crm, elsewhere  # a name, not an IP: aiohttp keeps cookies only for names
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_a_redirect_is_not_followed_and_the_api_header_stays_home(
    pbx: LocalAsterisk, start_engine, redirecting_crm: tuple[str, list[dict[str, str]], list[dict[str, str]]], tmp_path: Path
) -> None:
    require_tool("sipp")
    require_tool("espeak-ng")
    crm_url, at_crm, elsewhere = redirecting_crm
    flows = tmp_path / "flows"
    await asyncio.to_thread(flows.mkdir)
    await asyncio.to_thread((flows / "look.yaml").write_text, FLOW)
    config = tmp_path / "threadline.toml"
    await asyncio.to_thread(config.write_text, f'[lookups.crm]\nurl = "{crm_url}"\nheaders = {{ X-Api-Key = "{API_KEY}" }}\n')
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'lookup.sqlite3'}",
        THREADLINE_FLOWS__FOLDER=str(flows), THREADLINE_FLOWS__INBOUND="look",
        THREADLINE_CONFIG=str(config),
    )
    result = await run_sipp("uac_engine_hangs_up.xml", SIP_PORT, "6300", calls=2, rate=1, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0 and result.successful == 2, result.output[-2000:]

    calls = await engine.ended_calls(2)
    lookups = [e.detail for call in calls for e in call.events if e.kind == "lookup"]
    assert len(lookups) == 2 and all(lookup["ok"] is False and lookup["error"] == "HTTP 302" for lookup in lookups), lookups
    assert all(any(e.kind == "node_entered" and e.detail.get("node") == "failed" for e in call.events) for call in calls)
    assert len(at_crm) == 2 and all(headers.get("X-Api-Key") == API_KEY for headers in at_crm), "the CRM itself gets its key"
    assert elsewhere == [], "the redirect was followed: the other host got the lookup (and its API key)"
    assert all("Cookie" not in headers for headers in at_crm), "a cookie set for one call was sent with the next"
