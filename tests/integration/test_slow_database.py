"""A slow database delays the journey, never the caller: prompts play on time, and nothing is lost.

PostgreSQL is made slow on purpose: a trigger sleeps 1.5 s in every insert and update, so storing
a call's arrival takes about 3 s and each later step 1.5 s more.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.store.database import upgrade_database
from tests.integration.conftest import PBX_ENV, fresh_postgres_database, free_port, require_tool
from tests.integration.sip_peers import run_sipp

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
WRITE_DELAY_S = 1.5

SLOW_WRITES = f"""
CREATE FUNCTION slow_write() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep({WRITE_DELAY_S}); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER slow_calls BEFORE INSERT OR UPDATE ON calls FOR EACH ROW EXECUTE FUNCTION slow_write();
CREATE TRIGGER slow_events BEFORE INSERT ON journey_events FOR EACH ROW EXECUTE FUNCTION slow_write();
"""


async def test_a_slow_database_never_delays_the_greeting(pbx: LocalAsterisk, start_engine) -> None:
    require_tool("sipp")
    async with fresh_postgres_database() as url:
        await upgrade_database(url)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(SLOW_WRITES)
        finally:
            await connection.close()

        engine = await start_engine(url)
        result = await run_sipp("uac_engine_hangs_up.xml", SIP_PORT, "4900", calls=1, rate=1, local_port=free_port(), media_port=free_port())
        assert result.returncode == 0 and result.successful == 1, result.output[-2500:]

        calls = await engine.ended_calls(1, timeout_s=60)  # the journey catches up after the call
        call = calls[0]
        kinds = [event.kind for event in call.events]
        assert kinds == ["arrived", "answered", "prompt_started", "prompt_finished", "hung_up"], kinds
        assert [event.seq for event in call.events] == [1, 2, 3, 4, 5]
        at = {event.kind: event.at for event in call.events}
        to_prompt = (at["prompt_started"] - at["arrived"]).total_seconds()
        # Storing arrival and answer alone takes 4.5 s: a caller who waited on them would hear the
        # greeting that late. Played on time, it starts well within one write delay.
        assert to_prompt < WRITE_DELAY_S, f"the greeting started {to_prompt:.2f} s after arrival: the journey held it up"
        assert "retrying" not in engine.log_text(), "a slow write was timed out and retried"
