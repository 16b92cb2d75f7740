"""Answer time under bursts of real SIP calls (SIPp -> Asterisk -> engine). Prints a table; not a test.

Boots its own Asterisk instance (`burst`, own ports) and engine, then places bursts of calls and
reports INVITE-to-200 OK times two ways that must agree: from SIPp's message trace (wall clock, us)
and from the journey (the call's `answered` time minus Asterisk's channel creation time).
SIPp's own -trace_rtt file is not used: its figures are multiples of SIPp's ~4 ms loop tick, which is
why earlier runs printed p50 = p95 = max = 4.0 ms for every burst (see bench/sipp_traces.py).
Run as root:
    .venv/bin/python bench/call_burst.py [burst sizes...]      (default: 10 20 40)
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import load_settings
from engine.store.database import create_engine
from engine.store.journey_store import JourneyStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sipp_traces import answer_times_ms  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "tests" / "integration" / "sipp" / "uac_engine_hangs_up.xml"
ENV = {
    "THREADLINE_LOCALPBX__CACHE_DIR": str(REPO / ".cache"),
    "THREADLINE_LOCALPBX__INSTANCE": "burst",
    "THREADLINE_ASTERISK__ARI_PORT": "19088",
    "THREADLINE_ASTERISK__AMI_PORT": "16038",
    "THREADLINE_ASTERISK__SIP_PORT": "16060",
    "THREADLINE_ASTERISK__RTP_START": "38000",
    "THREADLINE_ASTERISK__RTP_END": "39999",
    "THREADLINE_HTTP__PORT": "18580",
    "THREADLINE_ASTERISK__EVENTS_PORT": "19090",
}


def wait_healthy(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"engine never became healthy at {url}")


def burst(size: int, workdir: Path) -> tuple[int, list[float]]:
    """Place `size` calls at once; return (successful calls, answer times in ms from SIPp's message trace)."""
    run_dir = workdir / f"burst-{size}"
    run_dir.mkdir()
    result = subprocess.run(
        ["sipp", f"127.0.0.1:{ENV['THREADLINE_ASTERISK__SIP_PORT']}", "-sf", str(SCENARIO), "-s", "4500",
         "-m", str(size), "-r", str(size), "-l", str(size), "-i", "127.0.0.1", "-p", "26600", "-mp", "26700",
         "-timeout", "90s", "-nostdin", "-trace_msg"],
        cwd=run_dir, capture_output=True, text=True, timeout=150,
    )
    counts = [line.split("|")[-1].strip() for line in result.stdout.splitlines() if line.strip().startswith("Successful call")]
    successful = int(counts[-1]) if counts else 0
    trace = next(run_dir.glob("*_messages.log"), run_dir / "none")
    return successful, list(answer_times_ms(trace).values())


async def journey_answer_times(database_url: str) -> list[tuple[float, float]]:
    """(arrived, answered - arrived in ms) of every stored call: Asterisk's creation time to the engine's answer."""
    engine = create_engine(database_url)
    try:
        calls = await JourneyStore(engine).recent_calls(limit=10_000)
    finally:
        await engine.dispose()
    return sorted((c.arrived_at.timestamp(), 1000 * (c.answered_at - c.arrived_at).total_seconds()) for c in calls if c.answered_at is not None)


def quantiles(times: list[float]) -> tuple[float, float, float]:
    if not times:
        return 0.0, 0.0, 0.0
    q = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else [times[0]] * 99
    return q[49], q[94], max(times)


def main(sizes: list[int]) -> None:
    settings = load_settings(None, environ=ENV)
    pbx = LocalAsterisk(settings)
    pbx.up()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
        env = {**os.environ, **ENV, "THREADLINE_DATABASE__URL": database_url}
        with (workdir / "engine.log").open("wb") as log:
            engine = subprocess.Popen([str(Path(sys.executable).with_name("threadline")), "run"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        rows = []
        try:
            wait_healthy(f"http://127.0.0.1:{ENV['THREADLINE_HTTP__PORT']}/healthz")
            seen = 0
            for size in sizes:
                ok, sipp_times = burst(size, workdir)
                time.sleep(1.0)  # the journeys reach the database
                journeys = asyncio.run(journey_answer_times(database_url))
                rows.append((size, ok, sipp_times, [ms for _, ms in journeys[seen:]]))
                seen = len(journeys)
        finally:
            engine.send_signal(signal.SIGINT)
            engine.wait(15)
            pbx.down()
    print("answer time (INVITE -> 200 OK), engine on SQLite; one run on a noisy 2-core machine")
    print("sipp: SIPp's message trace (us wall clock); journey: `answered` minus Asterisk's channel creation")
    print(f"{'burst':>6}{'answered':>10}{'sipp p50':>10}{'p95':>8}{'max':>8}{'journey p50':>13}{'p95':>8}{'max':>8}  (ms)")
    for size, ok, sipp_times, journey_times in rows:
        s50, s95, smax = quantiles(sipp_times)
        j50, j95, jmax = quantiles(journey_times)
        print(f"{size:>6}{ok:>10}{s50:>10.1f}{s95:>8.1f}{smax:>8.1f}{j50:>13.1f}{j95:>8.1f}{jmax:>8.1f}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10, 20, 40])
