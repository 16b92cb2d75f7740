"""docker-compose.yml stays consistent with the chroot recipe (no Docker engine runs here to build it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.localpbx.chroot import asterisk_packages
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose client is not installed here")
    env = {**os.environ, "THREADLINE_POSTGRES_PASSWORD": "only-for-config-check"}
    result = subprocess.run([docker, "compose", "config", "-q"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_asterisk_image_installs_the_chroot_packages_from_sid(compose: dict[str, Any]) -> None:
    build = compose["services"]["asterisk"]["build"]
    dockerfile = REPO / build["context"] / build["dockerfile"]
    text = dockerfile.read_text()
    assert [line for line in text.splitlines() if line.startswith("FROM ")] == ["FROM debian:sid-slim"]
    assert "COPY packages.txt" in text and "xargs apt-get install -y --no-install-recommends" in text
    assert (dockerfile.parent / "packages.txt").read_text().split() == asterisk_packages()


def test_asterisk_runs_the_same_rendered_config_path_as_the_chroot(compose: dict[str, Any]) -> None:
    chroot = LocalAsterisk(load_settings(None, environ={}))
    dockerfile = (REPO / "asterisk_conf" / "Dockerfile").read_text()
    assert f'"-C", "{chroot.conf_inside}"' in dockerfile
    render = compose["services"]["asterisk-config"]["command"]
    assert render[:3] == ["threadline", "asterisk", "render"]
    assert render[render.index("--base-dir") + 1] == chroot.inside_dir
    assert render[render.index("--dest") + 1] == f"{chroot.inside_dir}/etc"
    assert f"asterisk-instance:{chroot.inside_dir}" in compose["services"]["asterisk"]["volumes"]


def test_engine_and_postgres_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["engine"]["command"] == ["threadline", "run"]
    assert services["engine"]["network_mode"] == services["asterisk"]["network_mode"] == "host"
    assert services["postgres"]["profiles"] == ["postgres"]
    assert "postgres" not in services["engine"].get("depends_on", {})
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${") and ":?" in password, "no fixed database password"
    env = compose["x-engine-environment"]
    assert "sqlite+aiosqlite" in env["THREADLINE_DATABASE__URL"]


def test_recordings_spool_is_shared_and_owned_by_asterisk(compose: dict[str, Any]) -> None:
    """MixMonitor writes into the spool as the asterisk user; the engine reads it at the same path."""
    environment = compose["x-engine-environment"]
    spool = environment["THREADLINE_RECORDING__SPOOL_DIR"]
    assert spool.startswith("/srv/threadline/default/")
    for service in ("asterisk", "engine"):
        assert "asterisk-instance:/srv/threadline/default" in compose["services"][service]["volumes"]
    assert spool.removeprefix("/srv/threadline/default/") in (REPO / "asterisk_conf" / "docker-entrypoint.sh").read_text()
    assert "./recordings:" + environment["THREADLINE_RECORDING__FOLDER"] in compose["services"]["engine"]["volumes"]
