"""HealthBoard: one state a dependency, set by the adapter that owns it."""

from __future__ import annotations

from engine.health import ComponentState, HealthBoard

COMPONENTS = ("ari", "ami", "database")


def test_new_board_is_unhealthy_and_starting() -> None:
    board = HealthBoard(COMPONENTS)

    assert not board.healthy
    assert board.snapshot() == {name: ComponentState(False, "starting", 0.0) for name in COMPONENTS}


def test_healthy_only_when_every_component_is_ok() -> None:
    board = HealthBoard(COMPONENTS)
    board.set("ari", True, "connected", 10.0)
    board.set("ami", True, "logged in", 11.0)
    assert not board.healthy

    board.set("database", True, "migrated", 12.0)

    assert board.healthy


def test_one_failing_component_makes_the_board_unhealthy() -> None:
    board = HealthBoard(COMPONENTS)
    for name in COMPONENTS:
        board.set(name, True, "ok", 1.0)

    board.set("ami", False, "connection lost", 2.0)

    assert not board.healthy


def test_set_reports_a_change() -> None:
    board = HealthBoard(COMPONENTS)

    assert board.set("ari", True, "connected", 10.0) is True
    assert board.snapshot()["ari"] == ComponentState(True, "connected", 10.0)


def test_set_with_the_same_state_is_not_a_change_and_keeps_since() -> None:
    board = HealthBoard(COMPONENTS)
    board.set("ari", True, "connected", 10.0)

    assert board.set("ari", True, "connected", 20.0) is False
    assert board.snapshot()["ari"].since == 10.0


def test_setting_the_initial_state_again_is_not_a_change() -> None:
    board = HealthBoard(COMPONENTS)

    assert board.set("ari", False, "starting", 5.0) is False


def test_a_new_detail_is_a_change() -> None:
    board = HealthBoard(COMPONENTS)
    board.set("ari", False, "cannot connect", 10.0)

    assert board.set("ari", False, "websocket refused: HTTP 401", 11.0) is True
    assert board.snapshot()["ari"] == ComponentState(False, "websocket refused: HTTP 401", 11.0)


def test_snapshot_is_a_copy() -> None:
    board = HealthBoard(COMPONENTS)
    snapshot = board.snapshot()

    board.set("ari", True, "connected", 10.0)
    snapshot.clear()

    assert snapshot == {}
    assert board.snapshot()["ari"].ok
    assert set(board.snapshot()) == set(COMPONENTS)
