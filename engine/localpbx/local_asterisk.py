"""Starts, stops and inspects the Asterisk that runs inside the sid chroot.

Each instance (default, pytest, ...) has its own config, run, log and spool folders under
/srv/threadline/<instance> inside the chroot, so a test Asterisk and a demo one can run side by side.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from engine.localpbx.chroot import asterisk_packages, ensure_chroot
from engine.localpbx.credentials import load_or_create_credentials
from engine.localpbx.errors import AsteriskStartFailed, NotRoot, PortInUse
from engine.localpbx.pbx_config import PbxConfigParams, config_is_current, render_config
from engine.settings import Settings

log = logging.getLogger(__name__)

ASTERISK_BINARY = "/usr/sbin/asterisk"


@dataclass(frozen=True)
class PbxStatus:
    running: bool
    pid: int | None
    detail: str


@dataclass(frozen=True)
class ListenPort:
    port: int
    protocol: str  # "tcp" or "udp"
    purpose: str
    setting: str


class LocalAsterisk:
    """One Asterisk instance in the chroot. Every method is synchronous: this is CLI work, not the engine loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.localpbx.cache_dir.resolve() / "asterisk-sid"
        self.inside_dir = f"/srv/threadline/{settings.localpbx.instance}"
        self.host_dir = self.root / self.inside_dir.lstrip("/")
        self.conf_inside = f"{self.inside_dir}/etc/asterisk.conf"
        self.console_log = settings.instance_dir.resolve() / "asterisk-console.log"

    # -- commands -----------------------------------------------------------------

    def up(self) -> str:
        """Provision if needed, start if stopped, and return once Asterisk is fully booted."""
        self._require_root("up")
        ensure_chroot(self.root, self.settings.localpbx.mirror, self.settings.localpbx.suite, asterisk_packages())
        credentials = load_or_create_credentials(self.settings.credentials_path)
        params = PbxConfigParams.from_settings(self.settings, self.inside_dir, credentials)
        restarted = ""
        if self.pid() is not None:
            if config_is_current(params, self.host_dir / "etc"):
                self._wait_fully_booted(None)
                return f"Asterisk ({self.settings.localpbx.instance}) already running, pid {self.pid()}"
            self.down()  # settings or templates changed since it started: restart on the new config
            restarted = "config changed, restarted; "
        self._wait_stale_process_gone()
        self._check_ports_free()
        self._write_config(params)
        process = self._start()
        self._wait_fully_booted(process)
        self._check_listening()
        return f"Asterisk ({self.settings.localpbx.instance}) {restarted}fully booted, pid {process.pid}"

    def down(self, timeout_s: float = 20.0) -> str:
        """Stop Asterisk; return only once every one of its threads is gone and its ports are free.

        A zombie thread-group leader is not enough: while exit_group runs, the leader shows `Z` but
        other threads still hold the listening sockets, so an `up` right after would find them taken.
        """
        self._require_root("down")
        pid = self.pid()
        if pid is None:
            self._wait_stale_process_gone()
            return f"Asterisk ({self.settings.localpbx.instance}) is not running"
        self.rx("core stop now")
        for escalation in (signal.SIGTERM, signal.SIGKILL, None):
            if wait_process_gone(pid, timeout_s):
                break
            if escalation is None:
                raise AsteriskStartFailed(f"pid {pid} did not exit even after SIGKILL", self.log_tail())
            _signal(pid, escalation)  # hung: it did not obey the CLI
            timeout_s = 5.0
        self._wait_ports_free()
        return f"Asterisk ({self.settings.localpbx.instance}) stopped"

    def kill(self) -> None:
        """SIGKILL, as a crash would: used by tests of the engine's reconnect. Returns once it is gone."""
        pid = self.pid()
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            wait_process_gone(pid, 10.0)
            self._wait_ports_free()

    def status(self) -> PbxStatus:
        pid = self.pid()
        if pid is None:
            return PbxStatus(False, None, "not running")
        uptime = self.rx("core show uptime seconds").strip()
        return PbxStatus(True, pid, uptime)

    def cli_command(self, args: list[str]) -> list[str]:
        """The command line of an Asterisk console attached to this instance (or one -rx command)."""
        base = ["chroot", str(self.root), ASTERISK_BINARY, "-C", self.conf_inside]
        return [*base, "-rx", " ".join(args)] if args else [*base, "-r"]

    def rx(self, command: str, timeout_s: float = 15.0) -> str:
        """Run one CLI command; a hung Asterisk gives a message instead of an exception."""
        try:
            result = subprocess.run(
                self.cli_command(command.split()), capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            return f"(Asterisk did not answer `{command}` within {timeout_s:.0f} s)"
        return result.stdout + result.stderr

    def pid(self) -> int | None:
        """The running Asterisk of this instance, from its pid file, checked against /proc."""
        try:
            pid = int((self.host_dir / "run" / "asterisk.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if self.conf_inside.encode() in cmdline else None

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for path in (self.host_dir / "log" / "messages.log", self.console_log):
            if path.exists():
                parts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(parts[-lines:]) or "(Asterisk wrote no log)"

    # -- steps --------------------------------------------------------------------

    def _require_root(self, command: str) -> None:
        if os.geteuid() != 0:
            raise NotRoot(command)

    def listen_ports(self) -> list[ListenPort]:
        ast = self.settings.asterisk
        return [
            ListenPort(ast.ari_port, "tcp", "ARI HTTP", "asterisk.ari_port"),
            ListenPort(ast.ami_port, "tcp", "AMI", "asterisk.ami_port"),
            ListenPort(ast.sip_port, "udp", "SIP", "asterisk.sip_port"),
            ListenPort(ast.sip_port, "tcp", "SIP", "asterisk.sip_port"),
        ]

    def _wait_stale_process_gone(self) -> None:
        """An Asterisk of this instance may still be exiting (its pid file outlives `pid()`): let it finish."""
        try:
            pid = int((self.host_dir / "run" / "asterisk.pid").read_text().strip())
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return
        if comm == "asterisk" and wait_process_gone(pid, 10.0):
            self._wait_ports_free()

    def _wait_ports_free(self, timeout_s: float = 10.0) -> None:
        """The kernel frees a listening socket a moment after its last holder exits: wait for it, bounded."""
        deadline = time.monotonic() + timeout_s
        for port in self.listen_ports():
            while not port_is_free(port.port, port.protocol):
                if time.monotonic() > deadline:
                    raise PortInUse(port.port, port.protocol, port.purpose, port.setting)
                time.sleep(0.05)

    def _check_ports_free(self) -> None:
        for port in self.listen_ports():
            if not port_is_free(port.port, port.protocol):
                raise PortInUse(port.port, port.protocol, port.purpose, port.setting)

    def _check_listening(self) -> None:
        """Asterisk keeps running when a bind fails: make sure ARI and AMI really listen."""
        for port in self.listen_ports():
            if port.protocol == "tcp" and port.purpose != "SIP" and not _accepts_connections(port.port):
                raise AsteriskStartFailed(
                    f"booted, but nothing accepts connections on 127.0.0.1:{port.port} ({port.purpose}); "
                    f"another program may hold it: change {port.setting}",
                    self.log_tail(),
                )

    def _write_config(self, params: PbxConfigParams) -> None:
        render_config(params, self.host_dir / "etc")
        for sub in ("lib", "spool", "spool/recording", "spool/recording/calls", "run", "log"):  # ARI recordings: spool/recording; call recordings: its calls/
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.host_dir / "run" / "asterisk.pid").unlink(missing_ok=True)
        uid, gid = self._asterisk_ids()
        for path in [self.host_dir, *self.host_dir.rglob("*")]:
            os.chown(path, uid, gid, follow_symlinks=False)

    def _asterisk_ids(self) -> tuple[int, int]:
        """The chroot's asterisk user: Asterisk drops root and must own its folders."""
        for line in (self.root / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "asterisk":
                return int(fields[2]), int(fields[3])
        raise AsteriskStartFailed(
            f"{self.root}/etc/passwd has no asterisk user; delete {self.root} and run `threadline asterisk up` to rebuild it",
            self.log_tail(),
        )

    def _start(self) -> subprocess.Popen[bytes]:
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        with self.console_log.open("ab") as console:
            return subprocess.Popen(
                ["chroot", str(self.root), ASTERISK_BINARY, "-C", self.conf_inside, "-f", "-n"],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI that started it
                umask=0o027,  # raw recordings in the spool are callers' voices: no world-readable files
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/var/lib/asterisk"},
            )

    def _wait_fully_booted(self, process: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + self.settings.localpbx.boot_timeout_s
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise AsteriskStartFailed(f"it exited with code {process.returncode}", self.log_tail())
            try:
                result = subprocess.run(
                    self.cli_command(["core", "waitfullybooted"]), capture_output=True, text=True, timeout=10
                )
                if result.returncode == 0 and "fully booted" in result.stdout.lower():
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.3)
        raise AsteriskStartFailed(
            f"not fully booted after {self.settings.localpbx.boot_timeout_s:.0f} s", self.log_tail()
        )


def port_is_free(port: int, protocol: str) -> bool:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        if kind == socket.SOCK_STREAM:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _accepts_connections(port: int, attempts: int = 20) -> bool:
    for _ in range(attempts):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def wait_process_gone(pid: int, timeout_s: float) -> bool:
    """True once every thread of pid has exited (or it never existed); False if still there at the deadline.

    A pidfd becomes readable only when the whole thread group has exited, unlike /proc/PID/stat,
    which shows the leader as a zombie while its other threads are still closing sockets.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(max(0, int(timeout_s * 1000))):
            return False
    finally:
        os.close(pidfd)
    _reap(pid)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    """Send a signal to a process that may have exited since we looked."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
