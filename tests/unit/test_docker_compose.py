"""docker-compose.yml stays consistent with the chroot recipe; tests/integration/test_containers.py runs it."""

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
    result = subprocess.run([docker, "compose", "config", "-q"], cwd=REPO, env=dict(os.environ), capture_output=True, text=True)
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


def test_engine_service_and_external_database(compose: dict[str, Any]) -> None:
    """No database image is shipped (none can be pulled here): SQLite in a volume, or a PostgreSQL the operator runs."""
    services = compose["services"]
    assert services["engine"]["command"] == ["threadline", "run"]
    assert {service["network_mode"] for service in services.values()} == {"host"}
    assert set(services) == {"asterisk-config", "asterisk", "engine"}
    env = compose["x-engine-environment"]
    assert env["THREADLINE_DATABASE__URL"].startswith("${THREADLINE_DATABASE__URL:-sqlite+aiosqlite:////var/lib/threadline/")


def test_images_start_from_the_base_images_the_script_builds() -> None:
    """containers/base-images.sh builds what the Dockerfiles start FROM, since no registry can be reached."""
    script = (REPO / "containers" / "base-images.sh").read_text()
    assert "suites=${*:-sid bookworm}" in script and "image=docker.io/library/debian:$suite-slim" in script
    for dockerfile, suite in (("Dockerfile", "bookworm"), ("asterisk_conf/Dockerfile", "sid")):
        bases = [line.split()[1] for line in (REPO / dockerfile).read_text().splitlines() if line.startswith("FROM ")]
        assert bases[0] == f"debian:{suite}-slim", dockerfile


def test_recordings_spool_is_shared_and_owned_by_asterisk(compose: dict[str, Any]) -> None:
    """MixMonitor writes into the spool as the asterisk user; the engine reads it at the same path."""
    environment = compose["x-engine-environment"]
    spool = environment["THREADLINE_RECORDING__SPOOL_DIR"]
    assert spool.startswith("/srv/threadline/default/")
    for service in ("asterisk", "engine"):
        assert "asterisk-instance:/srv/threadline/default" in compose["services"][service]["volumes"]
    assert spool.removeprefix("/srv/threadline/default/") in (REPO / "asterisk_conf" / "docker-entrypoint.sh").read_text()
    folder = "${THREADLINE_RECORDING__FOLDER:-./recordings}:" + environment["THREADLINE_RECORDING__FOLDER"]
    assert folder in compose["services"]["engine"]["volumes"]
