"""Port checks and operator-facing errors of the local Asterisk; no Asterisk is started."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.localpbx.errors import (
    AsteriskStartFailed,
    DebootstrapMissing,
    LocalPbxError,
    NotRoot,
    PortInUse,
    ProvisioningFailed,
)
from engine.localpbx.local_asterisk import LocalAsterisk, port_is_free
from engine.settings import AsteriskSettings, Settings


def bound_socket(kind: socket.SocketKind) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def tcp_listener() -> Iterator[int]:
    with bound_socket(socket.SOCK_STREAM) as sock:
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def udp_socket() -> Iterator[int]:
    with bound_socket(socket.SOCK_DGRAM) as sock:
        yield sock.getsockname()[1]


def free_port(kind: socket.SocketKind) -> int:
    with bound_socket(kind) as sock:
        port: int = sock.getsockname()[1]
    return port


def test_tcp_port_with_a_listener_is_not_free(tcp_listener: int) -> None:
    assert port_is_free(tcp_listener, "tcp") is False


def test_tcp_port_bound_without_listening_is_not_free() -> None:
    with bound_socket(socket.SOCK_STREAM) as sock:
        assert port_is_free(sock.getsockname()[1], "tcp") is False


def test_udp_port_bound_by_someone_else_is_not_free(udp_socket: int) -> None:
    assert port_is_free(udp_socket, "udp") is False


def test_free_tcp_port_is_free() -> None:
    assert port_is_free(free_port(socket.SOCK_STREAM), "tcp") is True


def test_free_udp_port_is_free() -> None:
    assert port_is_free(free_port(socket.SOCK_DGRAM), "udp") is True


def test_protocols_are_checked_separately(udp_socket: int) -> None:
    """SIP listens on UDP and TCP at the same number; a UDP user must not hide a free TCP port."""
    try:
        tcp_free = port_is_free(udp_socket, "tcp")
    except OSError:
        pytest.skip("kernel refused the TCP probe")
    assert tcp_free is True


# -- errors an operator reads ---------------------------------------------------------------


def test_port_in_use_is_one_line_naming_port_and_setting() -> None:
    message = str(PortInUse(5060, "udp", "SIP", "asterisk.sip_port"))

    assert "\n" not in message
    assert "127.0.0.1:5060/udp" in message
    assert "SIP" in message
    assert "asterisk.sip_port" in message
    assert "threadline.toml" in message


def test_not_root_is_one_line_naming_command_and_sudo() -> None:
    message = str(NotRoot("up"))

    assert "\n" not in message
    assert "`threadline asterisk up`" in message
    assert "sudo" in message


def test_debootstrap_missing_is_one_line_naming_the_install_command() -> None:
    message = str(DebootstrapMissing())

    assert "\n" not in message
    assert "apt-get install debootstrap" in message


def test_asterisk_start_failed_leads_with_the_reason_then_the_log() -> None:
    message = str(AsteriskStartFailed("it exited with code 1", "ERROR: unable to bind\nExiting"))

    first, *rest = message.splitlines()
    assert first.startswith("Asterisk failed to start: it exited with code 1.")
    assert rest == ["ERROR: unable to bind", "Exiting"]


def test_provisioning_failed_leads_with_the_step() -> None:
    message = str(ProvisioningFailed("debootstrap sid from http://deb.debian.org/debian", "E: no route"))

    assert message.splitlines()[0].endswith("debootstrap sid from http://deb.debian.org/debian")
    assert message.splitlines()[-1] == "E: no route"


@pytest.mark.parametrize(
    "error",
    [
        PortInUse(8088, "tcp", "ARI HTTP", "asterisk.ari_port"),
        NotRoot("down"),
        DebootstrapMissing(),
        ProvisioningFailed("apt-get install", ""),
        AsteriskStartFailed("timeout", ""),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_local_pbx_error_shares_the_base_class(error: Exception) -> None:
    assert isinstance(error, LocalPbxError)


# -- LocalAsterisk without starting anything ------------------------------------------------


@pytest.fixture
def pbx(tmp_path: Path) -> LocalAsterisk:
    settings = Settings.model_validate(
        {
            "asterisk": {"ari_port": 18088, "ami_port": 15038, "sip_port": 15060},
            "localpbx": {"cache_dir": tmp_path / "cache", "instance": "pytest"},
        }
    )
    return LocalAsterisk(settings)


def test_listen_ports_name_real_settings(pbx: LocalAsterisk) -> None:
    ports = {(port.port, port.protocol): port.setting for port in pbx.listen_ports()}

    assert ports == {
        (18088, "tcp"): "asterisk.ari_port",
        (15038, "tcp"): "asterisk.ami_port",
        (15060, "udp"): "asterisk.sip_port",
        (15060, "tcp"): "asterisk.sip_port",
    }
    for setting in ports.values():
        section, field = setting.split(".")
        assert section == "asterisk" and field in AsteriskSettings.model_fields


def test_cli_command_targets_this_instance(pbx: LocalAsterisk, tmp_path: Path) -> None:
    root = str((tmp_path / "cache").resolve() / "asterisk-sid")
    conf = "/srv/threadline/pytest/etc/asterisk.conf"

    assert pbx.cli_command(["core", "show", "uptime"]) == [
        "chroot", root, "/usr/sbin/asterisk", "-C", conf, "-rx", "core show uptime"
    ]
    assert pbx.cli_command([]) == ["chroot", root, "/usr/sbin/asterisk", "-C", conf, "-r"]


def test_instances_keep_separate_folders(tmp_path: Path) -> None:
    def instance(name: str) -> LocalAsterisk:
        return LocalAsterisk(Settings.model_validate({"localpbx": {"cache_dir": tmp_path, "instance": name}}))

    default, test = instance("default"), instance("pytest")

    assert default.root == test.root
    assert default.host_dir != test.host_dir
    assert default.console_log != test.console_log


def test_no_pid_file_means_not_running(pbx: LocalAsterisk) -> None:
    assert pbx.pid() is None
    assert pbx.status().running is False


def test_stale_pid_file_of_another_process_means_not_running(pbx: LocalAsterisk) -> None:
    pid_file = pbx.host_dir / "run" / "asterisk.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text("1\n")

    assert pbx.pid() is None


def test_log_tail_without_logs(pbx: LocalAsterisk) -> None:
    assert pbx.log_tail() == "(Asterisk wrote no log)"


def test_log_tail_keeps_the_last_lines(pbx: LocalAsterisk) -> None:
    messages = pbx.host_dir / "log" / "messages.log"
    messages.parent.mkdir(parents=True)
    messages.write_text("".join(f"line {n}\n" for n in range(100)))

    assert pbx.log_tail(3) == "line 97\nline 98\nline 99"
