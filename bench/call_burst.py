"""Answer time under bursts of real SIP calls (SIPp -> Asterisk -> engine). Prints a table; not a test.

Boots its own Asterisk instance (`bench`, own ports) and engine, then places bursts of calls and
reports INVITE-to-200 OK times from SIPp's response-time trace. Run as root:
    .venv/bin/python bench/call_burst.py [burst sizes...]      (default: 10 20 40)
"""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "tests" / "integration" / "sipp" / "uac_engine_hangs_up.xml"
ENV = {
    "THREADLINE_LOCALPBX__CACHE_DIR": str(REPO / ".cache"),
    "THREADLINE_LOCALPBX__INSTANCE": "bench",
    "THREADLINE_ASTERISK__ARI_PORT": "19088",
    "THREADLINE_ASTERISK__AMI_PORT": "16038",
    "THREADLINE_ASTERISK__SIP_PORT": "16060",
    "THREADLINE_ASTERISK__RTP_START": "32000",
    "THREADLINE_ASTERISK__RTP_END": "33999",
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
    """Place `size` calls at once; return (successful calls, answer times in ms)."""
    for old in workdir.glob("*_rtt.csv"):
        old.unlink()
    result = subprocess.run(
        ["sipp", f"127.0.0.1:{ENV['THREADLINE_ASTERISK__SIP_PORT']}", "-sf", str(SCENARIO), "-s", "4500",
         "-m", str(size), "-r", str(size), "-l", str(size), "-i", "127.0.0.1", "-p", "26600", "-mp", "26700",
         "-timeout", "90s", "-nostdin", "-trace_rtt", "-rtt_freq", "1"],
        cwd=workdir, capture_output=True, text=True, timeout=150,
    )
    counts = [line.split("|")[-1].strip() for line in result.stdout.splitlines() if line.strip().startswith("Successful call")]
    successful = int(counts[-1]) if counts else 0
    times: list[float] = []
    for csv in workdir.glob("*_rtt.csv"):
        for line in csv.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 3 and fields[1]:
                times.append(float(fields[1]))
    return successful, times


def main(sizes: list[int]) -> None:
    settings = load_settings(None, environ=ENV)
    pbx = LocalAsterisk(settings)
    pbx.up()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {**os.environ, **ENV, "THREADLINE_DATABASE__URL": f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"}
        with (workdir / "engine.log").open("wb") as log:
            engine = subprocess.Popen([str(Path(sys.executable).with_name("threadline")), "run"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"http://127.0.0.1:{ENV['THREADLINE_HTTP__PORT']}/healthz")
            rows = [(size, *burst(size, workdir)) for size in sizes]
        finally:
            engine.send_signal(signal.SIGINT)
            engine.wait(15)
            pbx.down()
    print("answer time (INVITE -> 200 OK), engine on SQLite; one run on a noisy 2-core machine")
    print(f"{'burst':>6}{'answered':>10}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for size, ok, times in rows:
        q = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0] if times else 0.0] * 99
        print(f"{size:>6}{ok:>10}{q[49]:>10.1f}{q[94]:>10.1f}{max(times, default=0):>10.1f}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10, 20, 40])
