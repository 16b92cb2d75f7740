"""docker-compose.yml really runs: its images build from Debian base images, the stack comes up under
podman-compose, and a SIPp call through the container Asterisk reaches the container engine, which
answers /healthz and journals the call in the SQLite database of its volume.

The base images and the built layers stay in podman's store, so the next run only rebuilds what changed.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator

import aiohttp
import pytest

from engine.localpbx.local_asterisk import port_is_free
from engine.store.database import create_engine
from engine.store.journey_store import CallRecord, JourneyStore
from tests.integration.compose_stack import STACK_PORTS, ComposeStack, podman_compose_command
from tests.integration.conftest import free_port, require_tool
from tests.integration.sip_peers import run_sipp

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(
        shutil.which("podman") is None,
        reason="podman is not installed, so docker-compose.yml cannot be built or run here (`make install` installs podman and runc)",
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    """The compose stack, built (cached) and up on its own ports; down, volumes and all, afterwards."""
    compose = podman_compose_command()
    if compose is None:
        pytest.fail("podman-compose is not installed; `make install` installs it (the test extras in pyproject.toml)")
    stack = ComposeStack.for_test(compose, tmp_path_factory.mktemp("recordings"))
    stack.down()  # containers a killed run left behind
    assert not (taken := _taken_ports()), f"the compose stack's ports are taken: {', '.join(taken)}; stop what holds them"
    stack.build_base_images()
    stack.build()
    print(f"\nimage sizes: {stack.image_sizes()}")
    failure: BaseException | None = None
    try:
        stack.up()
        yield stack
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            for service in ("asterisk-config", "asterisk", "engine"):
                print(f"\n{stack.logs(service)}")
        finally:
            try:
                stack.down()
            except AssertionError as exc:
                if failure is None:
                    raise
                print(f"\nthe stack could not be taken down either: {exc}")  # the first failure is the one to report


def _taken_ports() -> list[str]:
    """The stack's TCP ports and its SIP port on UDP that something on the host already holds (RTP aside)."""
    checks = [(name, port, "tcp") for name, port in STACK_PORTS.items() if "RTP" not in name]
    checks.append(("THREADLINE_ASTERISK__SIP_PORT", STACK_PORTS["THREADLINE_ASTERISK__SIP_PORT"], "udp"))
    return [f"{name}={port}/{protocol}" for name, port, protocol in checks if not port_is_free(int(port), protocol)]


async def test_compose_stack_answers_a_call_and_journals_it(stack: ComposeStack) -> None:
    require_tool("sipp")
    health = await _wait_healthy(stack, timeout_s=120)
    assert {name for name, part in health["components"].items() if part["ok"]} >= {"ari", "ami", "database"}, health
    await asyncio.to_thread(stack.run_healthcheck, "engine")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(f"http://127.0.0.1:{stack.port('HTTP__PORT')}/static/vendor/sip.js/index.js") as answer:
            assert answer.status == 200 and "export { Web }" in await answer.text(), "the image serves the browser phone's SIP.js"

    sip_port = stack.port("ASTERISK__SIP_PORT")
    result = await run_sipp("uac_engine_hangs_up.xml", sip_port, "4100", calls=1, rate=1, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0 and result.successful == 1, result.output[-2500:]

    call = await _ended_call(stack)
    assert call.dialed == "4100"
    assert call.answered_at is not None and call.hung_up_by == "engine"
    assert [event.kind for event in call.events] == ["arrived", "answered", "prompt_started", "prompt_finished", "hung_up"]
    assert call.events[3].detail["state"] == "done"  # the greeting played to its end, in the container Asterisk


async def _wait_healthy(stack: ComposeStack, timeout_s: float) -> dict[str, dict[str, dict[str, object]]]:
    url = f"http://127.0.0.1:{stack.port('HTTP__PORT')}/healthz"
    deadline = time.monotonic() + timeout_s
    last: object = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    last = await response.json()
                    if response.status == 200:
                        healthy: dict[str, dict[str, dict[str, object]]] = await response.json()
                        return healthy
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = exc
            await asyncio.sleep(0.5)
    logs = await asyncio.to_thread(stack.logs, "engine")
    raise AssertionError(f"{url} never answered 200 within {timeout_s:.0f} s; last: {last}\n{logs}")


async def _ended_call(stack: ComposeStack, timeout_s: float = 15.0) -> CallRecord:
    """The one call the engine stored, once it has ended, read from the engine-data volume."""
    data = await asyncio.to_thread(stack.volume_dir, "engine-data")
    engine = create_engine(f"sqlite+aiosqlite:///{data / 'threadline.sqlite3'}")
    deadline = time.monotonic() + timeout_s
    try:
        store = JourneyStore(engine)
        while True:
            calls = await store.recent_calls(limit=10)
            if len(calls) == 1 and calls[0].ended_at is not None:
                return calls[0]
            if time.monotonic() > deadline:
                logs = await asyncio.to_thread(stack.logs, "engine")
                raise AssertionError(f"no single ended call stored within {timeout_s:.0f} s; stored: {[(c.dialed, c.ended_at) for c in calls]}\n{logs}")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
