"""The web chat under load, and the hand-off from chat to phone: prints a table.

    THREADLINE_TEST_SLOT=0 .venv/bin/python -m bench.chat [--sessions 1000] [--messages 6] [--think 5 15] [--handoffs 20]

Part 1, chat replies: the real engine (`threadline run`, real Asterisk beside it, SQLite, the sample
Korean flows) with the chat on, and N concurrent chat sessions from one client process, each opened
over POST /chat/session and /chat/ws and kept open to the end. Each customer answers what the chat
offers, as a person would: the customer number at a digit entry, "인터넷이 안 돼요" at the menu, "no"
to each troubleshooting step, then a quick reply; a think time drawn from --think between messages.
Measured: the server's time from a message received to the bot's turn sent
(`threadline_chat_reply_seconds` on /metrics, percentiles interpolated in its buckets), the same as
the client sees it (loopback plus the client's own scheduling, on the same 2 cores), and whether any
session was dropped (closed, refused or never answered).

Part 2, the hand-off: --handoffs chats that end in "I'll call you" with a signed customer number;
each then calls from that number (SIPp; the verified number continues the chat, no code to key) while
agent minsu's page is open. Measured: the caller's INVITE to the pop on the agent's page (the queue
wait is zero: minsu is free, wrap-up 0 s), p50/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.real_engine import real_engine

CHAT_SECRET = "bench-chat-identity-secret-0123456789abcdef"
REPLY_METRIC = "threadline_chat_reply_seconds"
ACCOUNT, PROBLEM = "123456", "인터넷이 안 돼요"


@dataclass
class ChatStats:
    round_trips: list[float] = field(default_factory=list)
    opened: int = 0
    refused: int = 0
    dropped: int = 0
    unanswered: int = 0
    finished: int = 0
    errors: list[str] = field(default_factory=list)


def answer_for(message: dict[str, Any]) -> dict[str, Any] | None:
    """What a customer sends for the input the chat offers now; None when it offers none."""
    shown = message.get("input") or {}
    kind, replies = shown.get("kind"), shown.get("replies") or []
    if kind == "digits":
        return {"type": "text", "text": ACCOUNT}
    if kind != "text":
        return None
    labels = [reply.get("label", "") for reply in replies]
    if message.get("node") == "menu" or not replies:
        return {"type": "text", "text": PROBLEM}
    no = next((index for index, label in enumerate(labels) if label in ("아니요", "아니오", "no", "No")), len(replies) - 1)
    return {"type": "reply", "index": no}


async def one_chat(http: aiohttp.ClientSession, base: str, messages: int, think: tuple[float, float], stats: ChatStats, start_gate: asyncio.Event) -> None:
    async with http.post(f"{base}/chat/session", json={}) as answer:
        if answer.status != 200:
            stats.refused += 1
            stats.errors.append(f"session {answer.status}")
            return
        token = (await answer.json())["token"]
    try:
        async with http.ws_connect(f"{base.replace('http', 'ws', 1)}/chat/ws", timeout=aiohttp.ClientWSTimeout(ws_close=5.0), heartbeat=None) as ws:
            states: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
            reader = asyncio.create_task(_read(ws, states))  # always reading, as a browser is: the server's pings are answered while the customer thinks
            try:
                await ws.send_json({"type": "hello", "token": token})
                state = await _next_state(states, 30.0)
                stats.opened += 1
                await start_gate.wait()
                for _ in range(messages):
                    await asyncio.sleep(random.uniform(*think))
                    sending = answer_for(state) if state else None
                    if sending is None:
                        break
                    sent_at = time.perf_counter()
                    await ws.send_json(sending)
                    turn = await _next_state(states, 30.0)
                    if turn is None:
                        stats.unanswered += 1
                        return
                    stats.round_trips.append(time.perf_counter() - sent_at)
                    state = turn
                stats.finished += 1
            finally:
                reader.cancel()
    except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
        stats.dropped += 1
        stats.errors.append(type(exc).__name__)


async def _read(ws: aiohttp.ClientWebSocketResponse, states: asyncio.Queue[dict[str, Any] | None]) -> None:
    """Every message that carries the chat's state (hello or turn) into the queue; None when the socket closes."""
    async for frame in ws:
        if frame.type != aiohttp.WSMsgType.TEXT:
            break
        message = json.loads(frame.data)
        if message.get("type") == "error":
            await states.put({"error": message.get("code")})
        elif message.get("type") in ("hello", "turn"):
            await states.put(dict(message))
    await states.put(None)


async def _next_state(states: asyncio.Queue[dict[str, Any] | None], within_s: float) -> dict[str, Any] | None:
    async with asyncio.timeout(within_s):
        state = await states.get()
    if state is not None and "error" in state:
        raise ConnectionError(f"chat error {state['error']}")
    return state


async def reply_histogram(http: aiohttp.ClientSession, base: str) -> dict[float, float]:
    """The cumulative bucket counts of the reply-time histogram: le (seconds) -> count."""
    async with http.get(f"{base}/metrics") as answer:
        text = await answer.text()
    found: dict[float, float] = {}
    for line in text.splitlines():
        match = re.match(rf'{REPLY_METRIC}_bucket{{le="([^"]+)"}} ([0-9.e+]+)', line)
        if match:
            found[float("inf") if match[1] == "+Inf" else float(match[1])] = float(match[2])
    return found


def histogram_percentile(before: dict[float, float], after: dict[float, float], share: float) -> float:
    """The share's percentile of what was observed between the two readings, interpolated in its bucket."""
    bounds = sorted(after)
    counts = [after[le] - before.get(le, 0.0) for le in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    wanted, lower, below = share * total, 0.0, 0.0
    for le, cumulative in zip(bounds, counts):
        if cumulative >= wanted:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (wanted - below) / max(cumulative - below, 1e-9)
        lower, below = le, cumulative
    return bounds[-1]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def chat_load(base: str, sessions: int, messages: int, think: tuple[float, float]) -> tuple[ChatStats, dict[float, float], dict[float, float], float]:
    stats, gate = ChatStats(), asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        before = await reply_histogram(http, base)
        tasks = []
        for index in range(sessions):
            tasks.append(asyncio.create_task(one_chat(http, base, messages, think, stats, gate)))
            if index % 50 == 49:
                await asyncio.sleep(0.2)  # a connect storm, bounded: 250 new chats a second
        while stats.opened + stats.refused + stats.dropped < sessions:
            await asyncio.sleep(0.2)
        started = time.perf_counter()
        gate.set()
        await asyncio.gather(*tasks)
        took = time.perf_counter() - started
        after = await reply_histogram(http, base)
    return stats, before, after, took


def print_chat_table(sessions: int, stats: ChatStats, before: dict[float, float], after: dict[float, float], took: float) -> None:
    served = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    print(f"\nchat replies: {sessions} concurrent sessions, {len(stats.round_trips)} messages in {took:.0f} s ({len(stats.round_trips) / max(took, 1e-9):.0f}/s)")
    print(f"{'measure':<44}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    print(f"{'server: message in -> bot turn out':<44}" + "".join(f"{histogram_percentile(before, after, q) * 1000:>10.1f}" for q in (0.5, 0.95, 0.99)))
    print(f"{'client: sent -> turn received (loopback)':<44}" + "".join(f"{percentile(stats.round_trips, q) * 1000:>10.1f}" for q in (0.5, 0.95, 0.99)))
    print(f"sessions opened {stats.opened}/{sessions}, finished their script {stats.finished}, refused {stats.refused}, dropped {stats.dropped}, "
          f"unanswered {stats.unanswered}; server counted {served:.0f} replies")
    if stats.errors:
        print(f"errors (first 5): {stats.errors[:5]}")
    if stats.round_trips:
        print(f"client mean {statistics.mean(stats.round_trips) * 1000:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=6, help="messages each customer sends")
    parser.add_argument("--think", type=float, nargs=2, default=(5.0, 15.0), metavar=("MIN_S", "MAX_S"))
    arguments = parser.parse_args()
    extra = {"THREADLINE_CHAT__ENABLED": "true", "THREADLINE_CHAT__IDENTITY_SECRET": CHAT_SECRET,
             "THREADLINE_CHAT__MAX_SESSIONS": str(max(arguments.sessions * 2, 500)), "THREADLINE_CHAT__SESSIONS_PER_CLIENT_PER_MINUTE": "10000",
             # every open chat holds a connection: the listener's cap (http.max_connections, 256 by default) must be above them
             "THREADLINE_HTTP__MAX_CONNECTIONS": str(arguments.sessions * 2 + 100)}
    async with real_engine(extra) as bench:
        stats, before, after, took = await chat_load(bench.engine.http_url, arguments.sessions, arguments.messages, tuple(arguments.think))  # type: ignore[arg-type]
        print_chat_table(arguments.sessions, stats, before, after, took)


if __name__ == "__main__":
    asyncio.run(main())
