"""The engine's view of its own health: one entry a dependency, set by the adapter that owns it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentState:
    ok: bool
    detail: str
    since: float
    """time.time() when the state last changed (epoch seconds, for /status)."""


class HealthBoard:
    def __init__(self, components: tuple[str, ...]) -> None:
        self._states = {name: ComponentState(False, "starting", 0.0) for name in components}

    def set(self, component: str, ok: bool, detail: str, now: float) -> bool:
        """Record a state; returns True if it changed (so the caller logs transitions only)."""
        if component not in self._states:
            raise KeyError(f"unknown health component {component!r}; known: {', '.join(self._states)}")
        previous = self._states[component]
        if previous.ok == ok and previous.detail == detail:
            return False
        self._states[component] = ComponentState(ok, detail, now)
        return True

    @property
    def healthy(self) -> bool:
        return all(state.ok for state in self._states.values())

    def snapshot(self) -> dict[str, ComponentState]:
        return dict(self._states)
