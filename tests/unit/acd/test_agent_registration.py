"""An agent with two phones (softphone and browser phone) is registered while either is online;
only a change of that combined state reaches their ledger (acd.login = phone logs in on registering)."""

from __future__ import annotations

from typing import Any

from engine.acd.agent_board import AgentBoard
from engine.acd.agent_state import Status
from engine.acd.router import Router
from engine.config.acd_config import AcdConfig, AgentSettings, QueueSettings


def board() -> AgentBoard:
    agents = AgentBoard(clock=lambda: 100.0, offer=lambda _offers: None, ring_ran_out=lambda _agent: None, spawn=lambda _name, _work: None)
    agents.configure(AcdConfig({"billing": QueueSettings(skills={"billing": 1})}, {"minsu": AgentSettings(name="Minsu", extension="2001", skills={"billing": 3})}, {}), Router(()))
    return agents


def status(agents: AgentBoard) -> Any:
    state = agents.state("minsu")
    assert state is not None
    return state.status, state.registered


def test_a_logged_out_agent_stays_logged_out_when_one_of_two_phones_goes_offline() -> None:
    agents = board()
    agents.endpoint_state("2001", "online")
    assert status(agents) == (Status.AVAILABLE, True), "a registered phone logs the agent in"
    agents.endpoint_state("web2001", "online")
    agents.action("minsu", "logged_out")
    agents.endpoint_state("web2001", "offline")
    assert status(agents) == (Status.LOGGED_OUT, True), "the softphone is still online: nothing changed"
    agents.endpoint_state("2001", "offline")
    assert status(agents) == (Status.LOGGED_OUT, False)
    agents.endpoint_state("web2001", "online")
    assert status(agents) == (Status.AVAILABLE, True), "registering again (a phone came back) logs in, as before"


def test_an_agents_phones_are_forgotten_when_the_agent_is_removed() -> None:
    agents = board()
    agents.endpoint_state("web2001", "online")
    agents.configure(AcdConfig({"billing": QueueSettings(skills={"billing": 1})}, {}, {}), Router(()))
    assert agents.phones.online == set() and agents.phones.passed_on == {}
    assert agents.endpoint_state("web2001", "offline") is False, "no agent's endpoint any more"
