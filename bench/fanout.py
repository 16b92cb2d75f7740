"""Websocket fan-out for bench/pop.py: supervisor-style floor updates broadcast to every agent page,
and the transfer directory of 2,000 named agents whose states change during the run.

The sessions live in client processes (two by default, so that one client event loop is not what
gets measured), each page asking for permessage-deflate as browsers do. Every update carries its
seq and time.time() at sending; each client notes its receipt, so a lost update shows, and so does
a page the server dropped. The server's CPU and RSS are this process's; the clients' CPU is theirs.
Meanwhile CHANGES_PER_UPDATE agents change state with every update (hub.agent_changed, as the ACD
does) until SETTLE_UPDATES before the end; each page applies the directory it gets (the whole team
on attach, then the deltas), and at the end every page's view is compared with the true states.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import random
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from engine.web.desktop_hub import DesktopHub
from engine.web.desktop_protocol import PROTOCOL_VERSION
from engine.web.sessions import SESSION_COOKIE

CONNECT_CONCURRENCY = 50
DEFLATE_WINDOW_BITS = 15
"""What Chromium asks for (permessage-deflate, client_max_window_bits): the server then compresses every frame."""
QUEUES = ["billing", "technical", "sales", "general"]
CHANGES_PER_UPDATE = 20
"""Agents whose state changes with each floor update: 100 a second at 5 updates a second."""
SETTLE_UPDATES = 10
"""No changes in the last updates (2 s at 5/s): the last directory delta (at most 1 s after the last
change) reaches each page before the last floor update, so a page that has that update has it all."""
CHANGED_STATES = ["available", "reserved", "on_call", "wrap_up", "paused"]


def view_digest(view: dict[str, str], agents: list[str]) -> str:
    """One page's directory as it would show it, for the agents compared, as a short digest."""
    return hashlib.sha1(json.dumps([view.get(agent, "") for agent in agents]).encode()).hexdigest()[:12]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def floor_snapshot(rng: random.Random, agents: int) -> dict[str, Any]:
    """A supervisor's live view: every queue, every team, today's KPIs (a few KB of JSON)."""
    queues = [
        {"queue": f"{q}_{lang}", "waiting": rng.randint(0, 30), "longest_wait_s": round(rng.uniform(0, 400), 1), "available": rng.randint(0, 20), "on_call": rng.randint(0, 60),
         "wrap_up": rng.randint(0, 10), "offered_today": rng.randint(100, 3000), "answered_today": rng.randint(100, 3000), "abandoned_today": rng.randint(0, 200),
         "service_level_pct": round(rng.uniform(50, 99), 1), "avg_handle_s": round(rng.uniform(120, 600), 1), "callbacks_pending": rng.randint(0, 12)}
        for q in QUEUES for lang in ("ko", "en")
    ]
    teams = [
        {"team": f"team-{t}", "logged_in": rng.randint(10, 60), "available": rng.randint(0, 10), "on_call": rng.randint(0, 40), "wrap_up": rng.randint(0, 8),
         "paused": {"break": rng.randint(0, 5), "lunch": rng.randint(0, 5), "training": rng.randint(0, 3), "meeting": rng.randint(0, 3)}}
        for t in range(12)
    ]
    kpis = {"agents": agents, "calls_today": rng.randint(5000, 20000), "service_level_pct": round(rng.uniform(70, 95), 1), "abandon_pct": round(rng.uniform(1, 8), 1),
            "avg_wait_s": round(rng.uniform(5, 60), 1), "avg_handle_s": round(rng.uniform(180, 420), 1), "first_contact_resolution_pct": round(rng.uniform(60, 90), 1)}
    alerts = [{"queue": "technical_ko", "kind": "longest_wait", "detail": "a caller has waited over 5 minutes"}] if rng.random() < 0.5 else []
    return {"v": PROTOCOL_VERSION, "type": "floor", "queues": queues, "teams": teams, "kpis": kpis, "alerts": alerts}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class FanoutResult:
    sessions: int
    updates: int
    rate: float
    client_processes: int
    deflate: bool
    connected: int = 0
    connect_s: float = 0.0
    compressed: int = 0
    """Sessions the server agreed to compress (permessage-deflate)."""
    deliveries: list[tuple[int, float]] = field(default_factory=list)
    """(update number, ms from sent_at to receipt) for every delivery to every session."""
    dropped: int = 0
    update_bytes: int = 0
    written_ms: list[float] = field(default_factory=list)
    """Per update: until every page's sender had run once after the broadcast (server side)."""
    server_cpu_s: float = 0.0
    """The server's CPU time from the first update to the last delivery: the fan-out's work, whatever share of the cores it got."""
    server_busy_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_connected_mb: float = 0.0
    rss_after_mb: float = 0.0
    client_cpu_pct: list[float] = field(default_factory=list)
    state_changes: int = 0
    directory_messages: int = 0
    """Directory messages received, all pages (one on attach each, then the deltas)."""
    directory_bytes: int = 0
    directory_attach_bytes: int = 0
    """One page's whole directory, sent on attach."""
    directory_converged: int = 0
    """Pages whose directory at the end equals the true states."""

    @property
    def latencies_ms(self) -> list[float]:
        return [ms for _, ms in self.deliveries]

    @property
    def lost(self) -> int:
        return self.sessions * self.updates - len(self.deliveries)

    def slowest_per_update_ms(self) -> list[float]:
        slowest: dict[int, float] = {}
        for seq, ms in self.deliveries:
            slowest[seq] = max(ms, slowest.get(seq, 0.0))
        return list(slowest.values())


def receipt(text: str) -> tuple[int, float] | None:
    """seq and sent_at from a floor update, reading only its tail (they are its last keys): a full
    json.loads of every 4 KB frame would make the clients, not the server, the bottleneck."""
    if '"type": "floor"' not in text[:64]:
        return None
    tail = json.loads("{" + text[text.rindex('"seq": '):])
    return int(tail["seq"]), float(tail["sent_at"])


def apply_directory(view: dict[str, str], text: str) -> None:
    """What agent.js does with a `directory` message: the whole team, or the changed entries."""
    message = json.loads(text)
    if message["replace"]:
        view.clear()
    view.update({agent["id"]: agent["status"] for agent in message["agents"]})
    for gone in message.get("removed", []):
        view.pop(gone, None)


async def run_clients(url: str, origin: str, tokens: list[str], agents: list[str], updates: int, wait_s: float, deflate: bool, pipe: Connection) -> None:
    """In a client process: connect its sessions, say so, record every update each one receives
    and apply every directory message; at the end, each page's directory as a digest."""
    deliveries: list[list[tuple[int, float]]] = [[] for _ in tokens]
    views: list[dict[str, str]] = [{} for _ in tokens]
    directory = [0, 0, 0]  # messages, bytes, the largest (the whole team on attach)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:

        async def connect(token: str) -> aiohttp.ClientWebSocketResponse:
            async with gate:
                return await client.ws_connect(url, headers={"Cookie": f"{SESSION_COOKIE}={token}", "Origin": origin}, autoping=True,
                                               max_msg_size=0, compress=DEFLATE_WINDOW_BITS if deflate else 0, timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10))

        async def read(socket: aiohttp.ClientWebSocketResponse, mine: list[tuple[int, float]], view: dict[str, str]) -> bool:
            seen: set[int] = set()
            while len(seen) < updates:
                message = await socket.receive()
                received = time.time()
                if message.type != aiohttp.WSMsgType.TEXT:
                    return False
                if '"type": "directory"' in message.data[:64]:
                    apply_directory(view, message.data)
                    directory[0] += 1
                    directory[1] += len(message.data)
                    directory[2] = max(directory[2], len(message.data))
                    continue
                got = receipt(message.data)
                if got is not None and got[0] not in seen:
                    seen.add(got[0])
                    mine.append((got[0], (received - got[1]) * 1000))
            return True

        started = time.perf_counter()
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        all_connected = asyncio.Event()

        async def page(token: str, mine: list[tuple[int, float]], view: dict[str, str]) -> bool:
            """Reads from the moment it connects, as a browser does (the whole directory comes then)."""
            socket = await connect(token)
            sockets.append(socket)
            if len(sockets) == len(tokens):
                all_connected.set()
            return await read(socket, mine, view)

        readers = [asyncio.ensure_future(page(token, mine, view)) for token, mine, view in zip(tokens, deliveries, views)]
        await asyncio.wait_for(all_connected.wait(), 180)
        pipe.send(("ready", len(sockets), time.perf_counter() - started, sum(1 for socket in sockets if socket.compress)))
        cpu_at_start = cpu_s()
        done, pending = await asyncio.wait(readers, timeout=wait_s)
        cpu_used, wall = cpu_s() - cpu_at_start, time.perf_counter() - started
        for reader in pending:
            reader.cancel()
        dropped = sum(1 for reader in done if reader.exception() is not None or not reader.result()) + len(pending)
        pipe.send(("received",))  # before closing: the server's CPU up to here is the fan-out's
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    digests = Counter(view_digest(view, agents) for view in views)
    pipe.send(("done", [d for mine in deliveries for d in mine], dropped, cpu_used, wall, dict(digests), directory))


def client_process(url: str, origin: str, tokens: list[str], agents: list[str], updates: int, wait_s: float, deflate: bool, pipe: Connection) -> None:
    asyncio.run(run_clients(url, origin, tokens, agents, updates, wait_s, deflate, pipe))


async def measure_fanout(hub: DesktopHub, origin: str, tokens: list[str], agents: list[str], updates: int, rate: float, rng: random.Random,
                         client_processes: int = 2, deflate: bool = True) -> FanoutResult:
    """Connects len(tokens) agent pages (spread over client_processes), then broadcasts `updates` floor
    snapshots at `rate` a second with hub.broadcast, exactly as the engine would, while `agents`
    (named in the hub's directory, logged out at the start) change state."""
    result = FanoutResult(len(tokens), updates, rate, client_processes, deflate, rss_before_mb=rss_mb())
    url = origin.replace("http://", "ws://") + "/ws"
    wait_s = updates / rate + 30
    spawn = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    processes = []
    for share in range(client_processes):
        ours, theirs = spawn.Pipe()
        process = spawn.Process(target=client_process, args=(url, origin, tokens[share::client_processes], agents, updates, wait_s, deflate, theirs), daemon=True)
        process.start()
        theirs.close()
        pipes.append(ours)
        processes.append(process)

    async def from_each(kind: str, timeout_s: float) -> list[tuple[Any, ...]]:
        def receive(pipe: Connection) -> Callable[[], Any]:
            return pipe.recv
        answers = await asyncio.wait_for(asyncio.gather(*(asyncio.to_thread(receive(pipe)) for pipe in pipes)), timeout=timeout_s)
        assert all(answer[0] == kind for answer in answers), answers
        return [tuple(answer[1:]) for answer in answers]

    try:
        ready = await from_each("ready", 180)
        result.connected, result.connect_s = sum(n for n, _, _ in ready), max(s for _, s, _ in ready)
        result.compressed = sum(c for _, _, c in ready)
        async with asyncio.timeout(30):
            while hub.connected < result.connected:  # the last sockets may still be attaching
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        result.rss_connected_mb = rss_mb()
        loop = asyncio.get_running_loop()
        start, cpu_at_start = loop.time(), cpu_s()
        truth = {agent: "logged_out" for agent in agents}
        for seq in range(updates):
            await asyncio.sleep(max(0.0, start + seq / rate - loop.time()))
            if seq < updates - SETTLE_UPDATES:
                for agent in rng.sample(agents, CHANGES_PER_UPDATE):
                    truth[agent] = rng.choice([status for status in CHANGED_STATES if status != truth[agent]])
                    hub.agent_changed(agent, {"status": truth[agent], "reason": "", "registered": True, "call_id": ""})
                    result.state_changes += 1
            message = floor_snapshot(rng, len(tokens))
            message["seq"] = seq
            message["sent_at"] = time.time()
            result.update_bytes = len(json.dumps(message).encode())
            hub.broadcast(message)
            # a callback queued after the broadcast runs once every page's sender has taken its turn and
            # written the frame (one that waits on a full send buffer has not: then this is a lower bound)
            written: asyncio.Future[float] = loop.create_future()
            loop.call_soon(lambda: written.set_result(time.time()) if not written.done() else None)
            result.written_ms.append((await written - message["sent_at"]) * 1000)
        await from_each("received", wait_s + 30)
        result.server_cpu_s, result.server_busy_s = cpu_s() - cpu_at_start, loop.time() - start
        done = await from_each("done", 60)
        result.rss_after_mb = rss_mb()
        expected = view_digest(truth, agents)
        for deliveries, dropped, cpu_used, wall, digests, directory in done:
            result.deliveries.extend(deliveries)
            result.dropped += dropped
            result.client_cpu_pct.append(100 * cpu_used / wall)
            result.directory_converged += digests.get(expected, 0)
            result.directory_messages += directory[0]
            result.directory_bytes += directory[1]
            result.directory_attach_bytes = max(result.directory_attach_bytes, directory[2])
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return result


def fanout_rows(fanout: FanoutResult, row: Callable[[str, list[float]], str]) -> list[str]:
    return [
        row(f"floor update -> one of {fanout.sessions} sessions (every delivery)", fanout.latencies_ms),
        row(f"floor update -> written by all {fanout.sessions} pages' senders (server side)", fanout.written_ms),
        row(f"floor update -> the last of {fanout.sessions} sessions", fanout.slowest_per_update_ms()),
    ]


def fanout_summary(fanout: FanoutResult) -> str:
    expected = fanout.sessions * fanout.updates
    clients = ", ".join(f"{pct:.0f}%" for pct in fanout.client_cpu_pct)
    return (
        f"fan-out: {fanout.connected} of {fanout.sessions} sessions connected in {fanout.connect_s:.1f} s (clients in {fanout.client_processes} other processes, "
        f"{'asking for permessage-deflate as browsers do' if fanout.deflate else 'not asking for compression'}, {fanout.compressed} compressed by the server); {fanout.updates} updates of {fanout.update_bytes} bytes at {fanout.rate:g}/s; "
        f"{len(fanout.deliveries)} of {expected} delivered, {fanout.lost} lost, {fanout.dropped} sessions dropped\n"
        f"directory: {fanout.state_changes} state changes of {fanout.sessions} named agents; {fanout.directory_messages} directory messages received "
        f"({fanout.directory_bytes / 1e6:.1f} MB in all, the whole team on attach {fanout.directory_attach_bytes / 1e3:.0f} KB); "
        f"{fanout.directory_converged} of {fanout.sessions} pages ended with the true states\n"
        f"server: {1000 * fanout.server_cpu_s / fanout.updates:.0f} ms of CPU per update ({1e6 * fanout.server_cpu_s / max(1, expected):.0f} us per delivery), "
        f"{100 * fanout.server_cpu_s / fanout.server_busy_s:.0f}% of a core from the first update to the last delivery; RSS {fanout.rss_before_mb:.0f} MB before connecting, "
        f"{fanout.rss_connected_mb:.0f} MB connected, {fanout.rss_after_mb:.0f} MB after; clients' CPU {clients} of a core each"
    )
