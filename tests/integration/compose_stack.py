"""docker-compose.yml run by podman and podman-compose, for tests/integration/test_containers.py.

Synchronous on purpose: building and starting the stack is fixture work, done before the test's loop runs.
Every podman call has a timeout; a failing one fails the test with the tail of what it printed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = "threadline-test"
"""Its own compose project name, so an operator's `threadline` stack on the same host is never touched."""
IMAGE_TAG = "test"
"""Its own image tag (THREADLINE_IMAGE_TAG): building never retags, and cleaning never deletes, an operator's images."""
TEST_IMAGES = (f"localhost/threadline-engine:{IMAGE_TAG}", f"localhost/threadline-asterisk:{IMAGE_TAG}")
BUILT_SERVICES = ("engine", "asterisk")
"""asterisk-config runs the engine's image: building it too would build that image twice, in parallel."""
STACK_PORTS = {
    # Clear of the chroot tests (15038/15060/18088/18090 + 400 per slot, RTP 31000-35999), of the ports
    # conftest.free_port hands to SIP peers (20000-30000) and of baresip's RTP (40000-40999).
    "THREADLINE_HTTP__PORT": "17080",
    "THREADLINE_ASTERISK__ARI_PORT": "17088",
    "THREADLINE_ASTERISK__AMI_PORT": "17038",
    "THREADLINE_ASTERISK__SIP_PORT": "17060",
    "THREADLINE_ASTERISK__EVENTS_PORT": "17090",
    "THREADLINE_ASTERISK__RTP_START": "36000",
    "THREADLINE_ASTERISK__RTP_END": "36499",
}
BASE_IMAGES_TIMEOUT_S = 900
STOP_GRACE_S = 30
"""How long base-images.sh gets after SIGTERM to unmount and delete its root before it is killed."""
BUILD_TIMEOUT_S = 1200


def podman_compose_command() -> list[str] | None:
    """podman-compose from the test's own virtualenv (`make install`), else from PATH."""
    beside = Path(sys.executable).with_name("podman-compose")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("podman-compose")
    return [found] if found else None


@dataclass(frozen=True)
class ComposeStack:
    compose: list[str]
    env: dict[str, str]

    @classmethod
    def for_test(cls, compose: list[str], recordings: Path) -> ComposeStack:
        env = {
            **os.environ,
            **STACK_PORTS,
            "THREADLINE_IMAGE_TAG": IMAGE_TAG,
            # runc and no default ulimits: what podman needs on hosts like CI's (see the file).
            "CONTAINERS_CONF": str(REPO / "containers" / "containers.conf"),
            "THREADLINE_RECORDING__FOLDER": str(recordings),
        }
        return cls(compose, env)

    def port(self, setting: str) -> int:
        return int(self.env[f"THREADLINE_{setting}"])

    def build_base_images(self) -> None:
        """debian:sid-slim and debian:bookworm-slim from debootstrap, unless podman's store has them.

        The script runs in a session of its own: on timeout its whole process group (debootstrap, tar, podman
        import) gets SIGTERM, so the script's trap unmounts and deletes its root, and SIGKILL if that hangs.
        """
        command = ["bash", str(REPO / "containers" / "base-images.sh")]
        script = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        try:
            output, _ = script.communicate(timeout=BASE_IMAGES_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            os.killpg(script.pid, signal.SIGTERM)
            try:
                script.communicate(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(script.pid, signal.SIGKILL)
                script.communicate()
            raise AssertionError(f"`{' '.join(command)}` did not finish within {BASE_IMAGES_TIMEOUT_S} s; stopped") from exc
        if script.returncode != 0:
            tail = "\n".join(output.splitlines()[-40:])
            raise AssertionError(f"`{' '.join(command)}` exited with {script.returncode}:\n{tail}")

    def build(self) -> None:
        """Build the stack's images under the test's tag (layers cached by podman).

        An image that carried the test's tag before and is left with no name at all was built by an earlier
        run of this test only: it is deleted. Any image with another name (an operator's) is left alone.
        """
        before = self._test_image_ids()
        self._compose(["build", *BUILT_SERVICES], BUILD_TIMEOUT_S)
        for image in set(before) - set(self._test_image_ids()):
            if not self._image_names(image):
                # Not forced: an image some container of this project still runs stays.
                subprocess.run(["podman", "rmi", image], capture_output=True, timeout=60, env=self.env)

    def up(self) -> None:
        self._compose(["up", "-d"], 300)

    def down(self) -> None:
        """Remove the containers and their volumes; the images stay for the next run."""
        self._compose(["down", "--volumes", "--timeout", "20"], 120)

    def volume_dir(self, volume: str) -> Path:
        """Where a named volume of the stack is on the host (root's podman store)."""
        return Path(self.podman(["volume", "inspect", "--format", "{{.Mountpoint}}", f"{PROJECT}_{volume}"]).strip())

    def container(self, service: str) -> str:
        names = self.podman([
            "ps", "--all", "--format", "{{.Names}}",
            "--filter", f"label=com.docker.compose.project={PROJECT}", "--filter", f"label=com.docker.compose.service={service}",
        ]).split()
        assert len(names) == 1, f"expected one {service} container of {PROJECT}, found {names}"
        return names[0]

    def run_healthcheck(self, service: str) -> None:
        """The service's compose healthcheck, run once now (podman times it with systemd, which CI lacks)."""
        self.podman(["healthcheck", "run", self.container(service)])

    def logs(self, service: str, lines: int = 40) -> str:
        """The tail of a service's output, or why there is none (for failure messages: never raises)."""
        try:
            name = self.container(service)
        except AssertionError as exc:
            return f"--- {service}: no log ({exc}) ---"
        try:
            result = subprocess.run(["podman", "logs", "--tail", str(lines), name], capture_output=True, text=True, timeout=30, env=self.env)
        except subprocess.TimeoutExpired:
            return f"--- {service}: no log (`podman logs {name}` did not finish within 30 s) ---"
        return f"--- {service} container log ---\n{result.stdout}{result.stderr}"

    def image_sizes(self) -> dict[str, int]:
        images = json.loads(self.podman(["images", "--format", "json"]))
        return {name: image["Size"] for image in images for name in image.get("Names") or []}

    def podman(self, args: list[str], timeout_s: float = 60) -> str:
        return self._run(["podman", *args], timeout_s)

    def _test_image_ids(self) -> list[str]:
        return [image_id for name in TEST_IMAGES if (image_id := self._inspect(name, "{{.Id}}"))]

    def _image_names(self, image_id: str) -> list[str]:
        """The image's names, or none if it is already gone (nothing to delete then either)."""
        return json.loads(self._inspect(image_id, "{{json .RepoTags}}") or "[]") or []

    def _inspect(self, image: str, template: str) -> str:
        """One field of an image, or "" if podman's store has no such image."""
        result = subprocess.run(
            ["podman", "image", "inspect", "--format", template, image], capture_output=True, text=True, timeout=30, env=self.env,
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    def _compose(self, args: list[str], timeout_s: float) -> str:
        return self._run([*self.compose, "--project-name", PROJECT, *args], timeout_s)

    def _run(self, command: list[str], timeout_s: float) -> str:
        try:
            result = subprocess.run(command, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"`{' '.join(command)}` did not finish within {timeout_s:.0f} s") from exc
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise AssertionError(f"`{' '.join(command)}` exited with {result.returncode}:\n{tail}")
        return result.stdout
