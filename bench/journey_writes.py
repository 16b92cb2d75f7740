"""How fast the journey store writes calls, on SQLite and PostgreSQL. Prints a table; not a test.

Each simulated call writes what a greeted call writes (open, 3 events, close) while `concurrency`
calls run at once, as in a burst. Run: .venv/bin/python bench/journey_writes.py [calls] [concurrency]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, JourneyStore

POSTGRES_ADMIN = "postgresql:///postgres?host=/var/run/postgresql"


async def one_call(store: JourneyStore, n: int, latencies: list[float]) -> None:
    now = datetime.now(UTC)

    async def timed(write: object) -> None:
        start = time.perf_counter()
        await write  # type: ignore[misc]
        latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    call_id = (await store.open_call(CallerInfo(f"bench.{n}", "555", "", "4100"), now, {})).call_id
    latencies.append((time.perf_counter() - start) * 1000)
    for kind in ("answered", "prompt_started", "prompt_finished"):
        await timed(store.add_event(call_id, kind, now, {}))
    await timed(store.close_call(call_id, now, "engine", 16, None))


async def measure(url: str, calls: int, concurrency: int) -> tuple[float, list[float]]:
    await upgrade_database(url)
    engine = create_engine(url)
    store = JourneyStore(engine)
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def bounded(n: int) -> None:
        async with gate:
            await one_call(store, n, latencies)

    start = time.perf_counter()
    await asyncio.gather(*(bounded(n) for n in range(calls)))
    elapsed = time.perf_counter() - start
    await engine.dispose()
    return calls / elapsed, latencies


async def main(calls: int, concurrency: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("sqlite", *await measure(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", calls, concurrency)))
    name = f"threadline_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        rows.append(("postgresql", *await measure(f"postgresql+asyncpg:///{name}?host=/var/run/postgresql", calls, concurrency)))
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    print(f"journey writes: {calls} calls x 5 writes, {concurrency} calls at once (one run, noisy 2-core machine)")
    print(f"{'database':<12}{'calls/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for db, rate, lat in rows:
        q = statistics.quantiles(lat, n=100)
        print(f"{db:<12}{rate:>10.1f}{q[49]:>10.2f}{q[94]:>10.2f}{q[98]:>10.2f}")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [500, 20][len(arguments):])))
