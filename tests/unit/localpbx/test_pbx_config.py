"""render_config: every template under asterisk_conf/templates becomes a loopback-only .conf."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import jinja2
import pytest

from engine.localpbx.credentials import AsteriskCredentials
from engine.localpbx.pbx_config import DEFAULT_TEMPLATES_DIR, PbxConfigParams, render_config
from engine.settings import Settings

BASE_DIR = "/srv/threadline/pytest"
TEMPLATES = sorted(DEFAULT_TEMPLATES_DIR.glob("*.j2"))


@pytest.fixture
def credentials() -> AsteriskCredentials:
    return AsteriskCredentials.generate()


@pytest.fixture
def params(credentials: AsteriskCredentials) -> PbxConfigParams:
    settings = Settings.model_validate(
        {
            "asterisk": {
                "ari_port": 18088,
                "ami_port": 15038,
                "sip_port": 15060,
                "rtp_start": 30000,
                "rtp_end": 30100,
                "app_name": "tl_test",
            }
        }
    )
    return PbxConfigParams.from_settings(settings, BASE_DIR, credentials)


@pytest.fixture
def etc(tmp_path: Path, params: PbxConfigParams) -> Path:
    etc_dir = tmp_path / "srv" / "etc"
    render_config(params, etc_dir)
    return etc_dir


def conf(etc: Path, name: str) -> str:
    return (etc / name).read_text()


def settings_lines(text: str) -> list[str]:
    """Non-comment lines, whitespace-trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(";")]


def test_templates_exist() -> None:
    names = {path.name for path in TEMPLATES}
    assert {"asterisk.conf.j2", "pjsip.conf.j2", "http.conf.j2", "ari.conf.j2", "manager.conf.j2"} <= names


def test_every_template_is_rendered(tmp_path: Path, params: PbxConfigParams) -> None:
    written = render_config(params, tmp_path / "etc")

    assert [path.name for path in written] == sorted(path.name.removesuffix(".j2") for path in TEMPLATES)
    assert sorted(path.name for path in (tmp_path / "etc").iterdir()) == [path.name for path in written]


def test_files_are_mode_0640(etc: Path) -> None:
    for path in etc.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path.name


def test_rendering_again_overwrites_and_tightens_mode(tmp_path: Path, params: PbxConfigParams) -> None:
    etc_dir = tmp_path / "etc"
    etc_dir.mkdir()
    stale = etc_dir / "ari.conf"
    stale.write_text("stale contents that are much longer than anything the template renders\n" * 50)
    stale.chmod(0o644)

    render_config(params, etc_dir)

    assert "stale" not in stale.read_text()
    assert stat.S_IMODE(stale.stat().st_mode) == 0o640


def test_no_template_syntax_is_left(etc: Path) -> None:
    for path in etc.iterdir():
        text = path.read_text()
        assert "{{" not in text and "{%" not in text, path.name


def test_base_dir_is_substituted(etc: Path) -> None:
    text = conf(etc, "asterisk.conf")

    for folder in ("etc", "lib", "spool", "run", "log"):
        assert f"{BASE_DIR}/{folder}" in text


def test_ports_are_substituted(etc: Path) -> None:
    assert "bindport = 18088" in settings_lines(conf(etc, "http.conf"))
    assert "port = 15038" in settings_lines(conf(etc, "manager.conf"))
    pjsip = settings_lines(conf(etc, "pjsip.conf"))
    assert pjsip.count("bind = 127.0.0.1:15060") == 2
    rtp = settings_lines(conf(etc, "rtp.conf"))
    assert "rtpstart = 30000" in rtp and "rtpend = 30100" in rtp


def test_app_name_is_substituted(etc: Path) -> None:
    assert "Stasis(tl_test,${EXTEN})" in conf(etc, "extensions.conf")


def test_http_for_ari_is_loopback_only(etc: Path) -> None:
    lines = settings_lines(conf(etc, "http.conf"))

    assert "bindaddr = 127.0.0.1" in lines
    assert not any(line.startswith(("tlsenable", "tlsbindaddr")) and "yes" in line for line in lines)


def test_ami_is_loopback_only(etc: Path) -> None:
    lines = settings_lines(conf(etc, "manager.conf"))

    assert "bindaddr = 127.0.0.1" in lines
    assert "deny = 0.0.0.0/0.0.0.0" in lines
    assert "permit = 127.0.0.1/255.255.255.255" in lines


def test_pjsip_transports_bind_to_loopback(etc: Path) -> None:
    binds = [line for line in settings_lines(conf(etc, "pjsip.conf")) if re.match(r"bind\s*=", line)]

    assert binds
    assert all(re.fullmatch(r"bind = 127\.0\.0\.1:\d+", line) for line in binds), binds


def test_rtp_is_bound_to_loopback(etc: Path) -> None:
    lines = settings_lines(conf(etc, "pjsip.conf"))

    assert "media_address = 127.0.0.1" in lines
    assert "bind_rtp_to_media_address = yes" in lines
    assert not any(line.startswith("external_") for line in lines)


def test_generated_secrets_are_written(etc: Path, credentials: AsteriskCredentials) -> None:
    assert f"password = {credentials.ari_password}" in settings_lines(conf(etc, "ari.conf"))
    assert f"[{credentials.ari_user}]" in settings_lines(conf(etc, "ari.conf"))
    assert f"secret = {credentials.ami_secret}" in settings_lines(conf(etc, "manager.conf"))
    assert f"[{credentials.ami_user}]" in settings_lines(conf(etc, "manager.conf"))
    pjsip = settings_lines(conf(etc, "pjsip.conf"))
    assert f"password = {credentials.softphone_password}" in pjsip
    assert f"username = {credentials.softphone_user}" in pjsip


def test_new_credentials_give_new_secrets(tmp_path: Path, params: PbxConfigParams) -> None:
    other = PbxConfigParams(**{**vars(params), "credentials": AsteriskCredentials.generate()})

    render_config(params, tmp_path / "one")
    render_config(other, tmp_path / "two")

    assert (tmp_path / "one" / "ari.conf").read_text() != (tmp_path / "two" / "ari.conf").read_text()
    assert params.credentials.ari_password not in (tmp_path / "two" / "ari.conf").read_text()


SECRET_LINE = re.compile(r"^\s*(password|secret)\s*=", re.IGNORECASE)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_no_template_holds_a_literal_password(template: Path) -> None:
    literal = [
        line
        for line in template.read_text().splitlines()
        if SECRET_LINE.match(line) and "{{" not in line.split("=", 1)[1]
    ]

    assert literal == [], f"{template}: put the secret in AsteriskCredentials, not the template"


def test_missing_template_variable_is_an_error(tmp_path: Path, params: PbxConfigParams) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "broken.conf.j2").write_text("port = {{ no_such_setting }}\n")

    with pytest.raises(jinja2.UndefinedError, match="no_such_setting"):
        render_config(params, tmp_path / "etc", templates)


def test_asterisk_opens_the_events_websocket_to_the_engine(etc: Path, credentials: AsteriskCredentials) -> None:
    ari = settings_lines(conf(etc, "ari.conf"))
    client = settings_lines(conf(etc, "websocket_client.conf"))
    assert "type = outbound_websocket" in ari and "apps = tl_test" in ari
    assert "websocket_client_id = tl_test-engine" in ari and f"local_ari_user = {credentials.ari_user}" in ari
    assert "[tl_test-engine]" in client and "type = websocket_client" in client
    assert "uri = ws://127.0.0.1:8090/ari/events" in client
    assert "connection_type = persistent" in client and "protocols = ari" in client
    assert f"username = {credentials.events_user}" in client and f"password = {credentials.events_password}" in client


def test_the_dialplan_rings_and_bounds_the_wait_for_an_engine(etc: Path) -> None:
    lines = settings_lines(conf(etc, "extensions.conf"))
    entry = [line for line in lines if line.startswith(("exten => _", "same =>"))]
    assert entry[:3] == [
        "exten => _[0-9A-Za-z*#+]!,1,Ringing()",
        "same => n,Set(TIMEOUT(absolute)=30)",
        "same => n,Stasis(tl_test,${EXTEN})",
    ]
    assert "exten => T,1,Goto(engine-down,1)" in lines
    hangup = lines.index("exten => h,1,NoOp(Call ended)")
    assert lines[hangup + 1] == "same => n,Hangup()", "h must end before the pattern's priorities send it into Stasis"


def test_only_listed_modules_load_and_dead_media_ends_calls(etc: Path) -> None:
    modules = settings_lines(conf(etc, "modules.conf"))
    assert "autoload = no" in modules
    loaded = {line.split("=>")[1].strip() for line in modules if line.startswith("load")}
    assert {"res_ari.so", "res_websocket_client.so", "app_stasis.so", "func_timeout.so", "res_musiconhold.so", "chan_pjsip.so"} <= loaded
    assert not any("voicemail" in name or "odbc" in name or "lua" in name for name in loaded)
    pjsip = settings_lines(conf(etc, "pjsip.conf"))
    assert "rtp_timeout = 60" in pjsip and "rtp_timeout_hold = 600" in pjsip


def test_browser_phones_reach_pjsip_over_a_websocket_with_webrtc_media(etc: Path, credentials: AsteriskCredentials) -> None:
    """Agents' browser phones (template agent-web-defaults) never dial out; the try-caller runs the flows like a caller."""
    modules = settings_lines(conf(etc, "modules.conf"))
    assert "load => res_pjsip_transport_websocket.so" in modules and "load => res_srtp.so" in modules
    text = conf(etc, "pjsip.conf")
    sections = {block.split("\n", 1)[0]: settings_lines(block) for block in text.split("\n[")[1:]}
    assert "protocol = ws" in sections["transport-ws]"]
    web = sections["agent-web-defaults](!)"]
    assert {"webrtc = yes", "dtls_auto_generate_cert = yes", "context = threadline-agents", "allow = ulaw", "media_address = 127.0.0.1",
            "dtmf_mode = rfc4733"} <= set(web)
    try_caller = f"{credentials.try_user}](agent-web-defaults)"
    assert "context = threadline-inbound" in sections[try_caller]
    assert f"password = {credentials.try_password}" in text and "auth_type = userpass" in text
