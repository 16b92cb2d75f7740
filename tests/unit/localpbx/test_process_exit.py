"""`wait_process_gone` waits for the whole thread group, not just a zombie leader (issue: port taken after `down`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from engine.localpbx.local_asterisk import port_is_free, wait_process_gone

# The main thread exits alone (SYS_exit, not exit_group) while a second thread keeps a listening
# socket open for a while: /proc/PID/stat then shows Z although the port is still held, as with
# Asterisk during shutdown.
LEADER_EXITS_FIRST = textwrap.dedent(
    """
    import ctypes, os, socket, sys, threading, time
    sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0)); sock.listen()
    print(sock.getsockname()[1], flush=True)
    def hold():
        time.sleep(1.0)
        os._exit(0)
    threading.Thread(target=hold).start()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(60, 0)  # SYS_exit on x86_64: this thread only
    """
)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_zombie_leader_with_live_threads_is_not_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", LEADER_EXITS_FIRST], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    port = int(child.stdout.readline())
    deadline = time.monotonic() + 5
    while _state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _state(child.pid) == "Z", "the leader should show as a zombie while its thread runs"
    assert not port_is_free(port, "tcp"), "the surviving thread still holds the port"

    assert wait_process_gone(child.pid, 10.0) is True
    assert port_is_free(port, "tcp"), "wait_process_gone returned while the port was still held"
    child.wait(1)


def test_timeout_is_reported_and_missing_pids_are_gone() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert wait_process_gone(sleeper.pid, 0.2) is False
    finally:
        sleeper.kill()
    assert wait_process_gone(sleeper.pid, 5.0) is True
    assert wait_process_gone(sleeper.pid, 0.1) is True  # reaped: no such process any more


def test_port_probe_is_not_fooled_by_a_closed_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
    assert port_is_free(port, "tcp")
