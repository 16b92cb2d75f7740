"""The engine-wide budget of refused hand-off claims: pure, fed times."""

from __future__ import annotations

from engine.handoff.claim_budget import ClaimBudget


def test_codes_stop_being_taken_once_the_window_holds_the_budget_and_resume_after_it() -> None:
    budget = ClaimBudget(3, 60.0)
    assert budget.open(0.0)
    assert [budget.refused(t) for t in (1.0, 2.0, 3.0)] == [False, False, True], "told once, when used up"
    assert not budget.open(30.0) and not budget.open(60.9)
    assert budget.open(61.0), "the first refusal left the window"
    assert budget.refused(61.5) is True and not budget.open(61.9)
    assert budget.open(200.0)
