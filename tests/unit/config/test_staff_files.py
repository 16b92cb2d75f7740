"""Who may log in when no flow runs inbound calls: the agents, queues and QA files alone, re-read on edits."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from engine.config.staff_files import StaffFiles, load_staff

SAMPLE_FLOWS = Path(__file__).resolve().parents[3] / "ivr_flows"


def test_who_may_log_in_is_read_without_any_flow() -> None:
    staff = load_staff(SAMPLE_FLOWS)
    assert set(staff.acd.agents["sora"].roles) == {"agent", "supervisor", "qa"}
    assert "standard" in staff.quality.scorecards()


def test_a_broken_edit_of_the_agents_keeps_the_last_good_set_and_a_valid_one_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    shutil.copytree(SAMPLE_FLOWS, folder)
    staff = StaffFiles(folder, watch_s=0)
    asyncio.run(staff.refresh())
    assert staff.current is not None and "supervisor" in staff.current.acd.agents["sora"].roles
    team = folder / "agents" / "team.yaml"
    team.write_text(team.read_text() + "  broken: {name: x}\n")
    asyncio.run(staff.refresh())
    assert staff.current is not None and "sora" in staff.current.acd.agents, "the last good set stays"
    team.write_text(team.read_text().replace("  broken: {name: x}\n", "").replace("roles: [agent, supervisor, qa]", "roles: [agent]"))
    asyncio.run(staff.refresh())
    assert staff.current is not None and staff.current.acd.agents["sora"].roles == ["agent"], "a removed role is seen"

