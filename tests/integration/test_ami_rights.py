"""The engine's AMI user has only the rights it uses, on the real Asterisk: Originate is refused,
while Ping, Command and the MixMonitor actions the recorder sends are allowed."""

from __future__ import annotations

import asyncio

import pytest

from engine.localpbx.credentials import load_credentials
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import load_settings
from tests.integration.conftest import PBX_ENV

pytestmark = pytest.mark.asterisk
AMI_PORT = int(PBX_ENV["THREADLINE_ASTERISK__AMI_PORT"])


class RawAmi:
    """AMI over a plain socket: an action in, its response's fields out (events are skipped)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._next_id = 0

    @classmethod
    async def connect(cls) -> RawAmi:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
            await reader.readline()  # Asterisk Call Manager/x.y.z
        return cls(reader, writer)

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        self._next_id += 1
        action_id = f"rights-{self._next_id}"
        lines = [f"Action: {name}", f"ActionID: {action_id}", *(f"{key}: {value}" for key, value in fields.items())]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        async with asyncio.timeout(10):
            await self._writer.drain()
            while True:
                message = await self._message()
                if message.get("ActionID") == action_id and "Response" in message:
                    return message

    async def _message(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        while (line := (await self._reader.readline()).decode(errors="replace").rstrip("\r\n")) or not fields:
            if line and ":" in line:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
        return fields

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


async def test_the_engine_ami_user_may_not_originate(pbx: LocalAsterisk) -> None:
    settings = await asyncio.to_thread(load_settings, None, PBX_ENV)
    credentials = await asyncio.to_thread(load_credentials, settings.credentials_path)
    ami = await RawAmi.connect()
    try:
        login = await ami.action("Login", Username=credentials.ami_user, Secret=credentials.ami_secret, Events="off")
        assert login["Response"] == "Success", login

        originate = await ami.action("Originate", Channel="Local/s@threadline-nowhere", Application="Wait", Data="1", Async="true")
        assert originate["Response"] == "Error" and "Permission denied" in originate.get("Message", ""), originate

        assert (await ami.action("Ping"))["Response"] == "Success"
        version = await ami.action("Command", Command="core show version")
        assert version["Response"] == "Success", version
        for action, fields in [
            ("MixMonitor", {"Channel": "PJSIP/no-such-channel", "File": "/tmp/never.raw", "Options": "D"}),
            ("MixMonitorMute", {"Channel": "PJSIP/no-such-channel", "Direction": "both", "State": "1"}),
            ("StopMixMonitor", {"Channel": "PJSIP/no-such-channel"}),
        ]:
            answer = await ami.action(action, **fields)
            assert "Permission denied" not in answer.get("Message", ""), (action, answer)  # allowed; there is just no such channel
    finally:
        await ami.close()
