"""The `threadline` command as an operator meets it: idempotent `up`, and one-line errors that say what to fix."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from engine.store.database import head_revision
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import load_settings
from tests.integration.conftest import PBX_ENV, REPO, THREADLINE

pytestmark = pytest.mark.asterisk


def threadline(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **PBX_ENV, **(env or {})}
    return subprocess.run([THREADLINE, *args], cwd=REPO, env=environ, capture_output=True, text=True, timeout=timeout)


def test_up_is_idempotent_and_status_reports_running(pbx: LocalAsterisk) -> None:
    again = threadline("asterisk", "up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    status = threadline("asterisk", "status")
    assert status.returncode == 0 and f"running pid {pbx.pid()}" in status.stdout
    endpoints = threadline("asterisk", "cli", "pjsip", "show", "endpoints")
    assert endpoints.returncode == 0 and "loopback-callers" in endpoints.stdout, endpoints.stderr


def test_credentials_are_generated_private_and_not_fixed(pbx: LocalAsterisk) -> None:
    settings = load_settings(None, environ=PBX_ENV)
    path = settings.credentials_path
    assert path.stat().st_mode & 0o777 == 0o600
    secret = path.read_text()
    conf = (pbx.host_dir / "etc" / "ari.conf").read_text()
    assert "password = " in conf and conf.split("password = ")[1].split()[0] in secret
    assert not any(word in conf for word in ("password = threadline\n", "password = secret\n"))


def test_port_already_taken_is_one_clear_line(pbx: LocalAsterisk) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = threadline(
            "asterisk", "up",
            env={"THREADLINE_LOCALPBX__INSTANCE": "porttest", "THREADLINE_ASTERISK__ARI_PORT": str(port),
                 "THREADLINE_ASTERISK__AMI_PORT": "15138", "THREADLINE_ASTERISK__SIP_PORT": "15160"},
        )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"127.0.0.1:{port}/tcp (ARI HTTP) is already in use" in result.stderr
    assert "asterisk.ari_port" in result.stderr


def test_failed_boot_shows_the_log_tail(pbx: LocalAsterisk) -> None:
    env = {"THREADLINE_LOCALPBX__INSTANCE": "boottest", "THREADLINE_ASTERISK__ARI_PORT": "18288",
           "THREADLINE_ASTERISK__AMI_PORT": "15238", "THREADLINE_ASTERISK__SIP_PORT": "15260",
           "THREADLINE_LOCALPBX__BOOT_TIMEOUT_S": "0.001"}
    try:
        result = threadline("asterisk", "up", env=env)
        assert result.returncode == 2
        assert "Asterisk failed to start: not fully booted" in result.stderr
        assert "Last lines of its log" in result.stderr
    finally:
        down = threadline("asterisk", "down", env=env)
        assert down.returncode == 0, down.stderr
        assert LocalAsterisk(load_settings(None, environ={**PBX_ENV, **env})).pid() is None


def test_missing_debootstrap_is_named(tmp_path: Path) -> None:
    result = threadline(
        "asterisk", "up",
        env={"THREADLINE_LOCALPBX__CACHE_DIR": str(tmp_path), "THREADLINE_LOCALPBX__INSTANCE": "nodebootstrap",
             "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "debootstrap is not installed; run `apt-get install debootstrap`" in result.stderr


def test_run_without_credentials_says_how_to_get_them(tmp_path: Path) -> None:
    result = threadline("run", env={"THREADLINE_LOCALPBX__CACHE_DIR": str(tmp_path)}, timeout=30)
    assert result.returncode == 2
    assert "no Asterisk credentials yet. Run `threadline asterisk up`" in result.stderr


def test_bad_setting_names_the_variable_and_field() -> None:
    result = threadline("asterisk", "status", env={"THREADLINE_ASTERISK__ARI_PORT": "eighty"})
    assert result.returncode == 2
    assert "environment THREADLINE_ASTERISK__ARI_PORT: asterisk.ari_port" in result.stderr


def test_db_upgrade_reports_the_revision(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    result = threadline("db", "upgrade", env={"THREADLINE_DATABASE__URL": url})
    assert result.returncode == 0, result.stderr
    assert f"at revision {head_revision()}" in result.stdout


def test_up_restarts_on_changed_settings_and_only_then(pbx: LocalAsterisk) -> None:
    changed = threadline("asterisk", "up", env={"THREADLINE_ASTERISK__RTP_END": "31899"})
    assert changed.returncode == 0, changed.stderr
    assert "config changed, restarted; fully booted" in changed.stdout
    assert "rtpend = 31899" in (pbx.host_dir / "etc" / "rtp.conf").read_text()
    back = threadline("asterisk", "up")
    assert back.returncode == 0, back.stderr
    assert "config changed, restarted" in back.stdout
    again = threadline("asterisk", "up")
    assert again.returncode == 0 and "already running" in again.stdout, again.stderr


def test_busy_http_port_is_one_clear_line(pbx: LocalAsterisk, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = threadline(
            "run", timeout=30,
            env={"THREADLINE_HTTP__PORT": str(port), "THREADLINE_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}"},
        )
    assert result.returncode == 2
    assert f"http.port: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_names_the_setting(pbx: LocalAsterisk) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        result = threadline(
            "run", timeout=60,
            env={"THREADLINE_DATABASE__URL": f"postgresql+asyncpg://threadline:hunter2@127.0.0.1:{port}/threadline"},
        )
    assert result.returncode == 2
    assert "is not reachable" in result.stderr and "check database.url" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_a_boot_loads_only_what_threadline_uses_and_writes_no_error(pbx: LocalAsterisk) -> None:
    log = pbx.host_dir / "log" / "messages.log"
    offset = log.stat().st_size
    assert "stopped" in pbx.down()
    assert "fully booted" in pbx.up()

    boot = log.read_bytes()[offset:].decode(errors="replace")
    assert "Asterisk Ready." in boot
    errors = [line for line in boot.splitlines() if " ERROR[" in line]
    assert errors == [], "\n".join(errors)
    assert "app_voicemail.so" not in pbx.rx("module show like voicemail")
    loaded = pbx.rx("module show like res_ari")
    assert "res_ari.so" in loaded and "res_ari_channels.so" in loaded
    for needed in ("res_websocket_client.so", "res_musiconhold.so", "chan_websocket.so", "res_stasis_snoop.so", "func_timeout.so"):
        assert needed in pbx.rx(f"module show like {needed.removesuffix('.so')}"), needed


def test_a_missing_inbound_flow_is_one_clear_line(pbx: LocalAsterisk, tmp_path: Path) -> None:
    result = threadline(
        "run", timeout=60,
        env={"THREADLINE_FLOWS__INBOUND": "nope", "THREADLINE_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
             "THREADLINE_HTTP__PORT": "0"},
    )
    assert result.returncode == 2, result.stderr
    assert "flows.inbound: no flow `nope` in ivr_flows (there are: secure_card_ko, support_en, support_ko, support_zh, survey_ko)" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_reports_a_broken_flow_at_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("flow: broken\nstart: hello\nnodes:\n  hello: {type: say, prompt: Hi, next: nowhere}\n")
    result = threadline("validate", str(broken))
    assert result.returncode == 1
    assert f"{broken}:4:40: node `hello` goes to `nowhere`, which is not defined" in result.stderr
    assert threadline("validate").returncode == 0, "the sample flows validate"
