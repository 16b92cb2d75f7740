"""GET /language on the real app: a stranger gets their browser's language, a logged-in person
their `language:` from the sample agents' file, and a pick in the picker (the tl_lang cookie)
beats both."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from engine.config.staff_files import load_staff
from engine.health import HealthBoard
from engine.web.desktop_hub import DesktopHub
from engine.web.http_server import Desktop, build_app
from engine.web.sessions import SESSION_COOKIE, Sessions

SAMPLES = Path(__file__).parents[3] / "ivr_flows"


async def test_the_pick_then_the_agents_file_then_the_browser_choose_a_pages_language() -> None:
    agents = load_staff(SAMPLES).acd.agents
    assert agents["wei"].language == "zh" and agents["minsu"].language is None, "the samples: wei reads Chinese, minsu his browser's language"
    sessions = Sessions()
    desktop = Desktop(
        sessions, DesktopHub(), lambda agent: frozenset(agents[agent].roles) if agent in agents else None, lambda _agent, _password: False,
        lambda _agent: None, lambda _agent, _status, _reason: None, _no_wrap_up, language_of=lambda agent: agents[agent].language if agent in agents else None,
    )
    async with TestClient(TestServer(build_app(HealthBoard(("ari",)), dict, desktop=desktop))) as client:

        async def language(cookies: dict[str, str], accept: str) -> str:
            header = "; ".join(f"{name}={value}" for name, value in cookies.items())
            response = await client.get("/language", headers={"Accept-Language": accept, **({"Cookie": header} if header else {})})
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
            body = await response.json()
            assert body["languages"] == {"ko": "한국어", "zh": "中文", "en": "English"}
            return str(body["language"])

        wei = {SESSION_COOKIE: sessions.open("wei", frozenset(agents["wei"].roles))}
        minsu = {SESSION_COOKIE: sessions.open("minsu", frozenset(agents["minsu"].roles))}
        assert await language({}, "ko-KR,ko;q=0.9") == "ko", "a stranger (the login page): the browser's"
        assert await language(wei, "en-US,en;q=0.9") == "zh", "wei's setting beats his English browser"
        assert await language(minsu, "ko-KR") == "ko", "no setting: the browser's"
        assert await language({**wei, "tl_lang": "ko"}, "en-US") == "ko", "his pick in the picker beats his setting"
        assert await language({"tl_lang": "fr"}, "fr-FR") == "en", "nothing we have: English"


async def _no_wrap_up(_agent: str, _call_id: str, _disposition: str, _notes: str) -> str | None:
    return None
