"""Who may log in when no flow runs inbound calls: the agents, queues and QA files alone, re-read on
edits and when an operator asks (SIGHUP, POST /flows/reload), whatever flows.watch_s says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.config import staff_files
from engine.config.staff_files import StaffFiles, load_staff

SAMPLE_FLOWS = Path(__file__).resolve().parents[3] / "ivr_flows"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "flows"
    shutil.copytree(SAMPLE_FLOWS, copy)
    return copy


def test_who_may_log_in_is_read_without_any_flow() -> None:
    staff = load_staff(SAMPLE_FLOWS)
    assert set(staff.acd.agents["sora"].roles) == {"agent", "supervisor", "qa"}
    assert "standard" in staff.quality.scorecards()


def test_a_broken_edit_of_the_agents_keeps_the_last_good_set_and_a_valid_one_is_read(folder: Path) -> None:
    staff = StaffFiles(folder, watch_s=0)
    assert staff.read() == () and staff.current is not None and "supervisor" in staff.current.acd.agents["sora"].roles
    team = folder / "agents" / "team.yaml"
    team.write_text(team.read_text() + "  broken: {name: x}\n")
    problems = staff.read()
    assert problems and "team.yaml" in problems[0], "the problem names its file"
    assert staff.current is not None and "sora" in staff.current.acd.agents, "the last good set stays"
    team.write_text(team.read_text().replace("  broken: {name: x}\n", "").replace("roles: [agent, supervisor, qa]", "roles: [agent]"))
    assert staff.read() == ()
    assert staff.current is not None and staff.current.acd.agents["sora"].roles == ["agent"], "a removed role is seen"


def test_unchanged_files_are_not_read_again_unless_an_operator_asks(folder: Path) -> None:
    staff = StaffFiles(folder, watch_s=0)
    staff.read()
    loaded = staff.current
    staff.read()
    assert staff.current is loaded, "unchanged: the same set, not read again"
    staff.read("SIGHUP", force=True)
    assert staff.current is not loaded and staff.current is not None, "asked: read again"


def test_after_a_failed_read_the_same_files_are_read_at_the_next_look(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staff = StaffFiles(folder, watch_s=0)

    def unreadable(_folder: Path) -> None:
        raise PermissionError(13, "Permission denied", str(folder / "agents" / "team.yaml"))

    monkeypatch.setattr(staff_files, "load_staff", unreadable)
    problems = staff.read()
    assert staff.current is None and "Permission denied" in problems[0]
    monkeypatch.undo()
    assert staff.read() == () and staff.current is not None, "read again without waiting for another edit"


async def test_a_new_set_is_told_so_the_agent_pages_directory_follows_a_reload(folder: Path) -> None:
    staff = StaffFiles(folder, watch_s=0)
    loads: list[str] = []
    staff.on_load = lambda: loads.append("loaded")
    await staff.refresh("start")
    await staff.refresh()
    assert loads == ["loaded"], "unchanged files: nothing to tell"
    team = folder / "agents" / "team.yaml"
    team.write_text(team.read_text().replace("roles: [agent, supervisor, qa]", "roles: [agent]"))
    await staff.refresh()
    assert loads == ["loaded", "loaded"]
