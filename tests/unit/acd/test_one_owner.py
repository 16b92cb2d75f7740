"""One caller, one owner: no ACD code commands a caller's channel itself.

The ACD moves channels between bridges and dials and hangs up its own legs; everything it wants
done to the caller goes to the caller's CallSession as a caller command. These tests read the
ACD's source, so a new direct call fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import engine.acd
from engine.acd.queue_bridges import BridgeControl

ACD = Path(engine.acd.__file__).parent
CALLER_CHANNEL_OPERATIONS = {
    "answer", "play", "stop_playback", "set_variable", "start_hold_music", "stop_hold_music", "start_silence", "stop_silence",
    "external_media", "snoop", "get_channel", "for_call", "subscribe_channel",
}
"""ARI operations on a caller's channel (engine/asterisk/ari_client.py): the CallSession's alone."""
CALLER_VOICE_OPERATIONS = {"announce", "hush", "listen_for", "stop_listening", "continue_flow", "start_survey", "hang_up"}
"""What the flow driver does to the caller for the session: never called from the ACD."""


def _calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, receiver, method) of every method call in the module."""
    tree = ast.parse(path.read_text(), str(path))
    return [(node.lineno, ast.unparse(node.func.value), node.func.attr) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)]


def _forbidden(receiver: str, name: str) -> bool:
    on_asterisk = "ari" in receiver.lower()
    return (on_asterisk and name in CALLER_CHANNEL_OPERATIONS) or name in CALLER_VOICE_OPERATIONS


def test_no_acd_module_calls_a_caller_channel_operation() -> None:
    found = [
        f"{path.relative_to(ACD.parent.parent)}:{line}: {receiver}.{name}()"
        for path in sorted(ACD.glob("*.py"))
        for line, receiver, name in _calls(path)
        if _forbidden(receiver, name)
    ]
    assert not found, "the ACD commands a caller's channel itself; send a caller command to its session instead:\n" + "\n".join(found)


def test_the_acd_s_asterisk_interface_has_no_caller_channel_operation() -> None:
    offered = {name for name in vars(BridgeControl) if not name.startswith("_")}
    assert offered, "BridgeControl lists the operations the ACD may use"
    assert not offered & CALLER_CHANNEL_OPERATIONS, offered & CALLER_CHANNEL_OPERATIONS


@pytest.mark.parametrize("module", ["queued_call.py", "queued_call_facts.py"])
def test_the_queued_call_core_is_pure(module: str) -> None:
    tree = ast.parse((ACD / module).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    impure = {name for name in imported if name.split(".")[0] in {"asyncio", "logging", "time", "socket", "aiohttp", "sqlalchemy"} or name.startswith("engine.asterisk")}
    assert not impure, f"engine/acd/{module} must stay pure; it imports {sorted(impure)}"
