"""The chroot's package list and its provisioning marker; nothing here runs debootstrap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.localpbx.chroot import (
    MARKER,
    asterisk_packages,
    ensure_chroot,
    is_provisioned,
    mounts_under,
    remove_tree,
)

DEBIAN_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def test_repository_package_list() -> None:
    packages = asterisk_packages()

    assert "asterisk" in packages
    assert all(DEBIAN_PACKAGE_NAME.fullmatch(name) for name in packages), packages
    assert len(packages) == len(set(packages))


def test_comments_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    packages_file = tmp_path / "packages.txt"
    packages_file.write_text("# Asterisk 22 from sid\nasterisk\n\n  asterisk-modules  \n# sounds\nasterisk-core-sounds-en-wav\n")

    assert asterisk_packages(packages_file) == ["asterisk", "asterisk-modules", "asterisk-core-sounds-en-wav"]


def test_indented_comment_is_skipped(tmp_path: Path) -> None:
    packages_file = tmp_path / "packages.txt"
    packages_file.write_text("asterisk\n  # pinned for Asterisk 22\n")

    assert asterisk_packages(packages_file) == ["asterisk"]


PACKAGES = ["asterisk", "asterisk-modules", "asterisk-core-sounds-en-wav"]


def test_not_provisioned_without_marker(tmp_path: Path) -> None:
    assert not is_provisioned(tmp_path, PACKAGES)


def test_not_provisioned_when_root_is_missing(tmp_path: Path) -> None:
    assert not is_provisioned(tmp_path / "asterisk-sid", PACKAGES)


def test_provisioned_when_marker_lists_the_packages(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("\n".join(PACKAGES) + "\n")

    assert is_provisioned(tmp_path, PACKAGES)


def test_a_changed_package_list_needs_provisioning_again(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("asterisk\nasterisk-modules\n")

    assert not is_provisioned(tmp_path, PACKAGES)


def test_empty_marker_from_an_interrupted_run_is_not_provisioned(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("")

    assert not is_provisioned(tmp_path, PACKAGES)


def test_ensure_chroot_reuses_a_provisioned_root(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("\n".join(PACKAGES) + "\n")

    ensure_chroot(tmp_path, "http://deb.invalid/debian", "sid", PACKAGES)

    assert sorted(path.name for path in tmp_path.iterdir()) == [MARKER]


def test_nothing_is_mounted_under_a_fresh_folder(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()

    assert mounts_under(tmp_path) == []


def nested_mount_point() -> Path | None:
    """A mount point of this machine that sits below another folder, e.g. /sys/fs/cgroup."""
    for line in Path("/proc/mounts").read_text().splitlines():
        point = Path(line.split()[1])
        if len(point.parts) >= 3 and "\\" not in str(point):
            return point
    return None


def test_mounts_under_finds_a_nested_mount_point() -> None:
    point = nested_mount_point()
    if point is None:
        pytest.skip("no nested mount point on this machine")

    assert str(point) in mounts_under(point.parent)
    assert str(point) not in mounts_under(point)


def test_remove_tree_deletes_an_unmounted_folder(tmp_path: Path) -> None:
    root = tmp_path / "asterisk-sid"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "apt-get").write_text("")

    remove_tree(root)

    assert not root.exists()


def test_remove_tree_of_a_missing_folder_does_nothing(tmp_path: Path) -> None:
    remove_tree(tmp_path / "never-created")
