"""`threadline asterisk up` after a settings change, again and again, with both cores busy. Prints a table.

Each run changes a setting (rtp_end, alternating), so `up` must stop Asterisk, wait until every
thread has exited and the ports are free, and boot it again. Not a test: run as root,
    .venv/bin/python bench/config_restarts.py [runs]     (default 20)
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THREADLINE = str(Path(sys.executable).with_name("threadline"))
ENV = {
    "THREADLINE_LOCALPBX__CACHE_DIR": str(REPO / ".cache"),
    "THREADLINE_LOCALPBX__INSTANCE": "restartbench",
    "THREADLINE_ASTERISK__ARI_PORT": "19188",
    "THREADLINE_ASTERISK__AMI_PORT": "16138",
    "THREADLINE_ASTERISK__SIP_PORT": "16160",
    "THREADLINE_ASTERISK__RTP_START": "34000",
    "THREADLINE_ASTERISK__RTP_END": "34999",
    "THREADLINE_ASTERISK__EVENTS_PORT": "19190",
}


def burn(stop_at: float) -> None:
    """Keep one core busy until stop_at (the 'under load' of the issue)."""
    while time.time() < stop_at:
        sum(i * i for i in range(10_000))


def threadline(*args: str, **extra: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run([THREADLINE, *args], cwd=REPO, env={**os.environ, **ENV, **extra}, capture_output=True, text=True, timeout=180)
    return result.returncode, (result.stdout + result.stderr).strip(), time.monotonic() - started


def main(runs: int) -> int:
    code, output, _ = threadline("asterisk", "up")
    if code != 0:
        print(output)
        return 1
    burners = [multiprocessing.Process(target=burn, args=(time.time() + 3600,)) for _ in range(os.cpu_count() or 2)]
    for burner in burners:
        burner.start()
    durations: list[float] = []
    failures: list[str] = []
    try:
        for run in range(runs):
            rtp_end = "34899" if run % 2 == 0 else "34999"
            code, output, seconds = threadline("asterisk", "up", THREADLINE_ASTERISK__RTP_END=rtp_end)
            if code != 0 or "config changed, restarted" not in output:
                failures.append(f"run {run + 1}: exit {code}: {output.splitlines()[0] if output else ''}")
            else:
                durations.append(seconds)
    finally:
        for burner in burners:
            burner.terminate()
        code, output, _ = threadline("asterisk", "down")
        if code != 0:
            failures.append(f"down: exit {code}: {output}")
    ordered = sorted(durations)
    print(f"{'restarts':>10} {'ok':>4} {'failed':>7} {'p50 s':>7} {'p95 s':>7} {'max s':>7}   (both cores busy)")
    if ordered:
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        print(f"{runs:>10} {len(durations):>4} {len(failures):>7} {statistics.median(ordered):>7.2f} {p95:>7.2f} {ordered[-1]:>7.2f}")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
