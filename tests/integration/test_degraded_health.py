"""Wrong credentials do not crash the engine: /healthz says degraded and names the cause."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import Settings

pytestmark = pytest.mark.asterisk


async def test_refused_ami_login_is_reported(pbx: LocalAsterisk, pbx_settings: Settings, start_engine, tmp_path: Path) -> None:
    credentials = json.loads(await asyncio.to_thread(pbx_settings.credentials_path.read_text))
    credentials["ami_secret"] = "not-the-secret"
    wrong = tmp_path / "credentials.json"
    await asyncio.to_thread(wrong.write_text, json.dumps(credentials))

    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'degraded.sqlite3'}", expect_status=503,
        THREADLINE_ASTERISK__CREDENTIALS_FILE=str(wrong),
    )
    for _ in range(50):
        status, body = await engine.health()
        components = body["components"]
        assert isinstance(components, dict)
        if "login refused" in components["ami"]["detail"]:
            break
        await asyncio.sleep(0.2)
    assert status == 503 and body["status"] == "degraded"
    assert components["ari"]["ok"] is True
    assert components["ami"]["ok"] is False
    assert "credentials file" in components["ami"]["detail"]
    assert engine.process.poll() is None
