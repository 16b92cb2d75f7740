"""Renders Asterisk's configuration from the Jinja templates in asterisk_conf/templates.

Used for the chroot and for the Docker image alike, so both run the same configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import jinja2

from engine.localpbx.credentials import AsteriskCredentials
from engine.settings import Settings

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "asterisk_conf" / "templates"


@dataclass(frozen=True)
class PbxConfigParams:
    """Everything the templates may use."""

    base_dir: str
    """Instance directory as Asterisk sees it (inside the chroot or container)."""
    ari_port: int
    ami_port: int
    sip_port: int
    rtp_start: int
    rtp_end: int
    app_name: str
    credentials: AsteriskCredentials
    events_host: str
    events_port: int
    """Where the engine listens for Asterisk's outbound ARI websocket."""
    engine_wait_s: int
    """How long the dialplan lets a caller wait for an engine (TIMEOUT(absolute) before Stasis)."""

    @classmethod
    def from_settings(cls, settings: Settings, base_dir: str, credentials: AsteriskCredentials) -> PbxConfigParams:
        ast = settings.asterisk
        return cls(
            base_dir, ast.ari_port, ast.ami_port, ast.sip_port, ast.rtp_start, ast.rtp_end, ast.app_name, credentials,
            ast.events_host, ast.events_port, settings.calls.engine_wait_s,
        )


def rendered_files(params: PbxConfigParams, templates_dir: Path = DEFAULT_TEMPLATES_DIR) -> dict[str, str]:
    """File name -> text, one .conf per template."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return {
        name.removesuffix(".j2"): environment.get_template(name).render(**vars(params))
        for name in sorted(environment.list_templates(extensions=["j2"]))
    }


def config_is_current(params: PbxConfigParams, etc_dir: Path, templates_dir: Path = DEFAULT_TEMPLATES_DIR) -> bool:
    """True if etc_dir already holds exactly what the templates render to."""
    for name, text in rendered_files(params, templates_dir).items():
        target = etc_dir / name
        if not target.exists() or target.read_text() != text:
            return False
    return True


def render_config(params: PbxConfigParams, etc_dir: Path, templates_dir: Path = DEFAULT_TEMPLATES_DIR) -> list[Path]:
    """Write one .conf per template into etc_dir, mode 0640 (they hold secrets)."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_files(params, templates_dir).items():
        target = etc_dir / name
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.chmod(target, 0o640)
        written.append(target)
    return written
