"""Builds, once, the Debian sid chroot that holds Asterisk 22 (bookworm has no asterisk package).

The host's apt sources are never touched: debootstrap fetches sid into a folder of its own.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from engine.localpbx.errors import DebootstrapMissing, ProvisioningFailed

log = logging.getLogger(__name__)

PACKAGES_FILE = Path(__file__).resolve().parents[2] / "asterisk_conf" / "packages.txt"
MARKER = ".threadline-provisioned"


def asterisk_packages(packages_file: Path = PACKAGES_FILE) -> list[str]:
    """The apt packages of the chroot and of asterisk_conf/Dockerfile: one list for both."""
    lines = packages_file.read_text().splitlines()
    stripped = (line.split("#", 1)[0].strip() for line in lines)
    return [line for line in stripped if line]


def is_provisioned(root: Path, packages: list[str]) -> bool:
    marker = root / MARKER
    return marker.exists() and marker.read_text().split() == packages


def ensure_chroot(root: Path, mirror: str, suite: str, packages: list[str]) -> None:
    """Idempotent: a finished chroot is reused; an interrupted debootstrap is started over."""
    if is_provisioned(root, packages):
        return
    if not (root / "usr" / "bin" / "apt-get").exists():
        _debootstrap(root, mirror, suite)
    log.info("installing %s into %s", " ".join(packages), root)
    _run(
        ["chroot", str(root), "apt-get", "install", "-y", "--no-install-recommends", *packages],
        "apt-get install inside the chroot",
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
    )
    (root / MARKER).write_text("\n".join(packages) + "\n")


def _debootstrap(root: Path, mirror: str, suite: str) -> None:
    if shutil.which("debootstrap") is None:
        raise DebootstrapMissing()
    staging = root.with_name(root.name + ".partial")
    remove_tree(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    log.info("debootstrap %s into %s (about 30 s)", suite, root)
    _run(["debootstrap", "--variant=minbase", suite, str(staging), mirror], f"debootstrap {suite} from {mirror}")
    remove_tree(root)
    staging.rename(root)


def mounts_under(path: Path) -> list[str]:
    """Mount points inside path (debootstrap may leave /proc or /dev mounted if it was interrupted)."""
    prefix = str(path.resolve()).rstrip("/") + "/"
    with open("/proc/mounts") as mounts:
        points = [_unescape_mount_path(line.split()[1]) for line in mounts]
    return [point for point in points if point.startswith(prefix)]


def _unescape_mount_path(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash in paths as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def remove_tree(path: Path) -> None:
    """Delete a chroot, but never through a mount: an rm -rf of a bind-mounted /dev wipes the host's devices."""
    if not path.exists():
        return
    for point in sorted(mounts_under(path), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    still_mounted = mounts_under(path)
    if still_mounted:
        raise ProvisioningFailed(f"removing {path}", f"still mounted: {', '.join(still_mounted)}; unmount them by hand")
    shutil.rmtree(path)


def _run(command: list[str], step: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env or dict(os.environ))
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise ProvisioningFailed(step, tail)
