"""The QA review endpoints: find calls, play them (range requests), read who said what, score them.

QA staff, supervisors and admins see every call; an agent sees their own calls and scores and
cannot score. Every playback and download writes an audit row, and so does every refusal: a
recording reference that is not a number, another agent's recording, a file whose sha256 no
longer matches its row (that file is never served), or a stored path that would leave the
recordings folder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.config.qa_config import QualityConfig, ScoreInvalid, score_total
from engine.journey.events import DispositionSet, IntentChosen, SurveyAnswered, decoded
from engine.recording.recording_files import sha256_of
from engine.store.contact_store import ContactStore
from engine.store.journey_store import CallRecord, JourneyStore
from engine.store.qa_store import CallFilter, QaStore, Score, StoredTranscript
from engine.store.recording_store import Recording, RecordingStore
from engine.web.request_policy import BODY_TIMEOUT_S
from engine.web.sessions import Principal

log = logging.getLogger(__name__)
REVIEWERS = frozenset({"qa", "supervisor", "admin"})
MAX_SCORE_BODY = 16 * 1024


@dataclass
class QaDesk:
    """What the QA pages need from the engine."""

    recordings: RecordingStore
    qa: QaStore
    journeys: JourneyStore
    folder: Path
    quality: Callable[[], QualityConfig]
    agent_names: Callable[[], Mapping[str, str]]
    contacts: ContactStore | None = None
    """A call's other legs (its chat before it, a later call) for the history; None lists none."""
    _verified: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Recording id -> (mtime_ns, size) of the file last found to match its sha256."""


def is_reviewer(principal: Principal) -> bool:
    return bool(principal.roles & REVIEWERS)


def add_qa_routes(app: web.Application, desk: QaDesk, principal_of: Callable[[web.Request], Principal]) -> None:
    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(Path(__file__).with_name("static") / "qa.html")

    async def calls(request: web.Request) -> web.Response:
        principal = principal_of(request)
        query = request.query
        try:
            wanted = CallFilter(
                since=_day(query.get("since")), until=_day(query.get("until"), end=True), queue=query.get("queue", "").strip(),
                agent=query.get("agent", "").strip() if is_reviewer(principal) else principal.agent_id,
                words=query.get("words", "")[:200], flag=query.get("flag", "").strip(),
            )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=422)
        found = await desk.qa.search(wanted)
        scores = {score.recording_id: score.total for score in await desk.qa.scores(agent_id="" if is_reviewer(principal) else principal.agent_id, limit=2000)}
        rows = []
        for recording, transcript in found:
            summary = await _journey_summary(desk, recording.call_id)
            if query.get("intent") and summary["intent"] != query["intent"]:
                continue
            if query.get("disposition") and summary["disposition"] != query["disposition"]:
                continue
            if query.get("csat") and (summary["csat"] is None or str(summary["csat"]) != query["csat"]):
                continue
            rows.append({**_listed(recording, transcript), **summary, "score": scores.get(recording.id)})
        return web.json_response({"calls": rows, "reviewer": is_reviewer(principal), "agent": principal.agent_id})

    async def detail(request: web.Request) -> web.Response:
        principal = principal_of(request)
        recording = await _allowed(request, desk, principal, "view")
        transcript = await desk.qa.transcript(recording.id)
        await _audit(desk, principal, "view", f"recording:{recording.id}", {"call_id": recording.call_id, "transcript": transcript is not None})
        quality = desk.quality().for_language(recording.language) if recording.language else None
        cards = {name: card.model_dump() | {"version": card.version} for name, card in (quality.scorecards.items() if quality else desk.quality().scorecards().items())}
        return web.json_response({
            "recording": _listed(recording, transcript) | {"sha256": recording.sha256, "pauses": [list(p) for p in recording.pauses], "status": recording.status},
            "transcript": {"segments": transcript.segments, "findings": transcript.findings, "engine": transcript.engine,
                           "real_time_factor": round(transcript.decode_s / transcript.audio_s, 3) if transcript.audio_s else None} if transcript else None,
            "journey": await _journey_summary(desk, recording.call_id),
            "scorecards": cards if is_reviewer(principal) else {},
            "scores": [_score(score) for score in await desk.qa.scores(call_id=recording.call_id)],
        })

    async def audio(request: web.Request) -> web.StreamResponse:
        principal = principal_of(request)
        recording = await _allowed(request, desk, principal, "play")
        path = (desk.folder / recording.path).resolve()
        if not path.is_relative_to(desk.folder.resolve()):
            await _audit(desk, principal, "denied", f"recording:{recording.id}", {"reason": "path outside the recordings folder"})
            raise web.HTTPForbidden(text="refused")
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise web.HTTPNotFound(text=f"recording {recording.id}: the file is missing") from None
        if desk._verified.get(recording.id) != (stat.st_mtime_ns, stat.st_size):
            actual = await asyncio.to_thread(sha256_of, path)
            if actual != recording.sha256:
                log.error("recording %s: sha256 %s does not match its row (%s); not served", recording.id, actual, recording.sha256)
                await _audit(desk, principal, "integrity_failed", f"recording:{recording.id}", {"expected": recording.sha256, "found": actual})
                return web.json_response({"error": f"recording {recording.id} was altered after it was filed (sha256 mismatch); it is not served"}, status=409)
            desk._verified[recording.id] = (stat.st_mtime_ns, stat.st_size)
        try:
            wanted = request.http_range
        except ValueError:
            raise web.HTTPRequestRangeNotSatisfiable(text=f"Range: use bytes=START-END or bytes=START- (got {request.headers.get('Range', '')[:60]!r})") from None
        download = request.query.get("download") == "1"
        first = wanted.start in (None, 0)
        if download or first:  # one audit row a playback, not one a range request
            await _audit(desk, principal, "download" if download else "play", f"recording:{recording.id}", {"call_id": recording.call_id, "range": request.headers.get("Range", "")})
        headers = {"Cache-Control": "private, no-store"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{Path(recording.path).name}"'
        return web.FileResponse(path, headers=headers)

    async def add_score(request: web.Request) -> web.Response:
        principal = principal_of(request)
        if not is_reviewer(principal):
            await _audit(desk, principal, "denied", request.path, {"reason": "scoring needs the qa, supervisor or admin role"})
            return web.json_response({"error": "scoring needs the qa, supervisor or admin role"}, status=403)
        if request.content_type != "application/json":  # text/plain is a form a page elsewhere may send
            return web.json_response({"error": f"Content-Type: application/json, not {request.content_type or 'none'}"}, status=415)
        recording = await _allowed(request, desk, principal, "score")
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                body = await request.json()
        except TimeoutError:
            return web.json_response({"error": f"the score did not arrive within {BODY_TIMEOUT_S:.0f} s"}, status=408)
        except ValueError:
            return web.json_response({"error": "send JSON: {\"scorecard\": NAME, \"answers\": {question: answer}}"}, status=422)
        card_name = str(body.get("scorecard", "")) if isinstance(body, dict) else ""
        card = desk.quality().scorecards().get(card_name)
        answers = body.get("answers") if isinstance(body, dict) else None
        if card is None:
            return web.json_response({"error": f"scorecard: no scorecard `{card_name}` (there are: {', '.join(desk.quality().scorecards()) or 'none'})"}, status=422)
        if not isinstance(answers, dict) or not answers:
            return web.json_response({"error": "answers: a mapping of question id -> answer"}, status=422)
        answers = {str(key): str(value) for key, value in answers.items()}
        try:
            total = score_total(card, answers)
        except ScoreInvalid as exc:
            return web.json_response({"error": str(exc)}, status=422)
        score = Score(0, recording.call_id, recording.id, recording.agent_id, card_name, card.version, principal.agent_id, datetime.now(UTC), answers, total)
        score = replace(score, id=await desk.qa.add_score(score))
        await _audit(desk, principal, "score", f"recording:{recording.id}", {"scorecard": card_name, "total": total})
        return web.json_response(_score(score), status=201)

    async def scores(request: web.Request) -> web.Response:
        principal = principal_of(request)
        agent = request.query.get("agent", "") if is_reviewer(principal) else principal.agent_id
        return web.json_response({"scores": [_score(score) for score in await desk.qa.scores(agent_id=agent)]})

    app.router.add_get("/qa", page)
    app.router.add_get("/qa/calls", calls)
    app.router.add_get("/qa/scores", scores)
    app.router.add_get("/qa/recordings/{recording_id}", detail)
    app.router.add_get("/qa/recordings/{recording_id}/audio", audio)
    app.router.add_post("/qa/recordings/{recording_id}/scores", add_score)


async def _allowed(request: web.Request, desk: QaDesk, principal: Principal, action: str) -> Recording:
    """The recording the path names, if this person may see it; otherwise 403 (and an audit row) or 404."""
    reference = request.match_info["recording_id"]
    if not (reference.isascii() and reference.isdigit()) or len(reference) > 12:
        await _audit(desk, principal, "denied", request.path[:255], {"reason": "not a recording id", "action": action})
        raise web.HTTPForbidden(text="refused")
    recording = await desk.recordings.get(int(reference))
    if recording is None:
        raise web.HTTPNotFound(text=f"no recording {reference}")
    if not is_reviewer(principal) and recording.agent_id != principal.agent_id:
        await _audit(desk, principal, "denied", f"recording:{recording.id}", {"reason": "another agent's recording", "action": action})
        raise web.HTTPForbidden(text="refused")
    return recording


async def _audit(desk: QaDesk, principal: Principal, action: str, target: str, detail: dict[str, Any]) -> None:
    await desk.recordings.audit(datetime.now(UTC), principal.agent_id, action, target, detail)


async def _journey_summary(desk: QaDesk, call_id: str) -> dict[str, Any]:
    call = await desk.journeys.get_call(call_id)
    events = decoded((e.kind, e.detail) for e in call.events) if call is not None else []
    intent = next((e.intent for e in events if isinstance(e, IntentChosen)), None)
    disposition = next((e.disposition for e in reversed(events) if isinstance(e, DispositionSet)), None)
    surveys = [e for e in reversed(events) if isinstance(e, SurveyAnswered)]
    csat = next((e.csat for e in surveys if e.csat is not None), None)
    nps = next((e.nps for e in surveys if e.nps is not None), None)
    return {"intent": intent, "disposition": disposition, "csat": csat, "nps": nps, "caller_number": call.caller_number if call is not None else "",
            "channel": call.channel if call is not None else "phone", "legs": await _other_legs(desk, call)}


async def _other_legs(desk: QaDesk, call: CallRecord | None) -> list[dict[str, Any]]:
    """The contact's other legs, in the order they started, with their channel: the call's history."""
    if call is None or call.contact_id is None or desk.contacts is None:
        return []
    return [{"call_id": leg.channel_id, "channel": leg.channel, "started_at": leg.arrived_at.isoformat(timespec="seconds"),
             "ended_at": leg.ended_at.isoformat(timespec="seconds") if leg.ended_at else None}
            for leg in await desk.contacts.legs_of_contact(call.contact_id) if leg.channel_id != call.channel_id]


def _listed(recording: Recording, transcript: StoredTranscript | None) -> dict[str, Any]:
    return {
        "id": recording.id, "call_id": recording.call_id, "started_at": recording.started_at.isoformat(timespec="seconds"),
        "duration_s": recording.duration_s, "agent": recording.agent_id, "queue": recording.queue, "language": recording.language,
        "flags": transcript.flags if transcript else [], "sentiment": transcript.sentiment if transcript else None, "transcribed": transcript is not None,
    }


def _score(score: Score) -> dict[str, Any]:
    return {"id": score.id, "call_id": score.call_id, "recording_id": score.recording_id, "agent": score.agent_id, "scorecard": score.scorecard,
            "version": score.version, "reviewer": score.reviewer, "at": score.at.isoformat(timespec="seconds"), "answers": score.answers, "total": score.total}


def _day(value: str | None, end: bool = False) -> datetime | None:
    """YYYY-MM-DD as the start of that day (UTC), or of the next day for `until`."""
    if not value:
        return None
    field = "until" if end else "since"
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{field}: a date as YYYY-MM-DD (got {value[:40]!r})") from None
    if not 2000 <= day.year <= 2999:
        raise ValueError(f"{field}: {value} is outside the years 2000 to 2999")
    return day + timedelta(days=1) if end else day
