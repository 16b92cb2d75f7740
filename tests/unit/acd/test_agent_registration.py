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


def two_agents(minsu: str, jisu: str) -> AcdConfig:
    return AcdConfig({"billing": QueueSettings(skills={"billing": 1})}, {"minsu": AgentSettings(name="Minsu", extension=minsu, skills={"billing": 3}),
                                                                        "jisu": AgentSettings(name="Jisu", extension=jisu, skills={"billing": 3})}, {})


def test_agents_who_swap_extensions_are_registered_as_their_new_phones_are() -> None:
    agents = board()
    agents.configure(two_agents("2001", "2002"), Router(()))
    agents.endpoint_state("web2001", "online")
    agents.endpoint_state("2002", "offline")
    assert status(agents) == (Status.AVAILABLE, True)
    agents.configure(two_agents("2002", "2001"), Router(()))
    assert agents.phones.passed_on == {"minsu": False, "jisu": True}, "kept per agent, not per extension"
    assert status(agents)[1] is False, "minsu's new phones are offline"
    jisu = agents.state("jisu")
    assert jisu is not None and (jisu.status, jisu.registered) == (Status.AVAILABLE, True), "jisu's new browser phone is online"
    agents.endpoint_state("web2001", "offline")
    assert agents.phones.passed_on["jisu"] is False and agents.phones.passed_on["minsu"] is False


def test_a_readded_agent_gets_its_phones_state_from_the_next_read() -> None:
    agents = board()
    agents.endpoint_state("web2001", "online")
    agents.configure(AcdConfig({"billing": QueueSettings(skills={"billing": 1})}, {}, {}), Router(()))
    agents.configure(two_agents("2001", "2002"), Router(()))
    assert agents.phones.passed_on == {} and agents.phones.online == set(), "nothing known until Asterisk is read again"
    agents.endpoint_state("web2001", "online")
    assert status(agents) == (Status.AVAILABLE, True)
