"""A reload never raises: whatever goes wrong while building the new set is logged, answered as a
refused reload, and the running set stays (a raise here used to end the engine with live calls)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engine.call import flow_services
from engine.call.flow_services import FlowLibrary
from engine.config.config_bundle import FlowsNotReady
from engine.settings import load_settings


def library(tmp_path: Path) -> FlowLibrary:
    settings = load_settings(None, environ={"THREADLINE_FLOWS__FOLDER": str(tmp_path)})
    running: Any = SimpleNamespace(bundle=SimpleNamespace(flow_set=SimpleNamespace(versions={"hello": "v1"})))
    return FlowLibrary(settings, "hello", None, running, ())  # type: ignore[arg-type]


@pytest.mark.parametrize("failure", [ValueError("invalid literal for int() with base 10: '3s'"), OSError("folder gone"), KeyError("nodes")])
async def test_an_unexpected_failure_is_a_refused_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failure: Exception
) -> None:
    async def broken(*_args: object) -> None:
        raise failure

    monkeypatch.setattr(flow_services, "build_flow_runtime", broken)
    flows = library(tmp_path)
    running = flows.current
    caplog.set_level(logging.ERROR)
    result = await flows.reload("files changed")
    assert not result.ok and result.versions == {"hello": "v1"} and flows.current is running
    assert type(failure).__name__ in result.problems[0] and "the running flows stay" in result.problems[0]
    assert "flow reload (files changed) failed" in caplog.text


async def test_a_refused_set_keeps_its_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(*_args: object) -> None:
        raise FlowsNotReady("flows.inbound: the flows do not validate:", ("hello.yaml:3:12: YAML syntax: YAML tags are not allowed (!!int)",))

    monkeypatch.setattr(flow_services, "build_flow_runtime", refused)
    result = await library(tmp_path).reload("SIGHUP")
    assert not result.ok and result.problems == ("hello.yaml:3:12: YAML syntax: YAML tags are not allowed (!!int)",)
