"""The live side of flows: what calls need beyond the configuration bundle, and its reloads.

A FlowRuntime pairs one frozen ConfigBundle (engine/config/config_bundle.py) with the services a
call uses to run it: prompt audio, lookups over HTTP, speech and the distributor. It is built once
at engine start and again at each reload. Static text prompts are rendered here, before any call,
so a caller never waits for TTS on them; recorded prompt files are copied where Asterisk can read them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.client import _RequestContextManager

from engine.acd.call_distributor import CallDistributor
from engine.config.config_bundle import ConfigBundle, FlowsNotReady, load_bundle, source_fingerprint
from engine.flows.flow_facts import QUEUE_NOT_CONFIGURED, Lookup, LookupAnswered
from engine.flows.prompt_inventory import static_prompts
from engine.handoff.handoff_codes import refused_prompt
from engine.handoff.handoff_port import CodeClaims
from engine.settings import LookupEndpoint, Settings
from engine.speech.prompt_audio import EspeakNg, PromptCache, PromptRenderFailed
from engine.speech.speech_service import SpeechService

log = logging.getLogger(__name__)
MAX_LOOKUP_BYTES = 64 * 1024
STALE_CALL_PROMPTS_S = 3600.0
"""At start, per-call prompts and unused renders older than this are deleted (younger ones may be
another engine's, still playing during a hand-over)."""


class LookupClient:
    """HTTP for flows' `lookup` nodes. Redirects are never followed: the endpoint's API headers
    (keys, tokens) must not travel to whatever host a redirect names; a 3xx answer is a failed
    lookup. The session keeps no cookies, so nothing one call's answer sets reaches another call."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def get(self, url: str, *, params: Mapping[str, str], headers: Mapping[str, str]) -> _RequestContextManager:
        return self._session.get(url, params=params, headers=headers, allow_redirects=False)

    def post(self, url: str, *, json: Mapping[str, str], headers: Mapping[str, str]) -> _RequestContextManager:
        return self._session.post(url, json=json, headers=headers, allow_redirects=False)


def lookup_session() -> aiohttp.ClientSession:
    """The engine's session for lookups: no cookie jar (a CRM's cookies never cross calls)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


@dataclass(frozen=True)
class FlowRuntime:
    """One configuration version with the live services calls use to run it."""

    bundle: ConfigBundle
    """Flows, queues, agents and QA cards of one version: what the operator wrote."""
    prompts: PromptCache
    asterisk_prompt_dir: str
    lookups: Mapping[str, LookupEndpoint]
    http: LookupClient
    files: Mapping[str, str]
    """Recorded prompt files by the path written in the flow -> the name Asterisk plays."""
    speech: SpeechService | None = None
    distributor: CallDistributor | None = None

    static_prompts: frozenset[tuple[str, str]] = frozenset()
    """(text, language) of the prompts rendered at load: the same for every caller, so cached."""
    handoff: CodeClaims | None = None
    """Hand-off codes from the web chat: a call that keys one goes on from the chat."""

    async def media_for(self, text: str, language: str, call_id: str) -> str:
        """An ARI media URI for a text prompt; rendering runs off the loop. A static prompt is a cache
        hit; any other text (it may hold the caller's number or name) is rendered for this call alone
        and removed by forget_call when the call ends."""
        if (text, language) in self.static_prompts:
            path = await asyncio.to_thread(self.prompts.ensure, text, language)
        else:
            path = await asyncio.to_thread(self.prompts.ensure_for_call, text, language, call_id)
        return f"sound:{self.asterisk_prompt_dir}/{path.stem}"

    async def forget_call(self, call_id: str) -> None:
        """The call ended: its own prompts are deleted. Never raises: the call is over either way."""
        try:
            removed = await asyncio.to_thread(self.prompts.remove_call_prompts, call_id)
        except OSError as exc:
            log.error("call %s: its prompts in %s were not deleted: %s", call_id, self.prompts.folder, exc)
            return
        if removed:
            log.debug("call %s: %d per-call prompts deleted", call_id, removed)

    def file_media(self, file: str) -> str:
        return f"sound:{self.asterisk_prompt_dir}/{self.files.get(file, file)}"


async def answer_lookup(runtime: FlowRuntime, command: Lookup) -> LookupAnswered:
    """A flow's `lookup`, as the interpreter hears its answer: the same CRM call for a phone call and
    a chat. Never raises (but for cancellation): a failure is the answer's error."""
    endpoint = runtime.lookups.get(command.endpoint)
    if endpoint is None:
        return LookupAnswered(command.request_id, None, f"endpoint `{command.endpoint}` is not configured under [lookups]")
    try:
        async with asyncio.timeout(min(command.timeout_s, endpoint.timeout_s)):
            data = await _request(runtime.http, endpoint, command)
    except TimeoutError:
        return LookupAnswered(command.request_id, None, "timed out")
    except (aiohttp.ClientError, ValueError) as exc:
        return LookupAnswered(command.request_id, None, str(exc)[:200] or type(exc).__name__)
    return LookupAnswered(command.request_id, data)


async def _request(http: LookupClient, endpoint: LookupEndpoint, command: Lookup) -> dict[str, Any]:
    params = dict(command.params)
    if command.method == "GET":
        request = http.get(endpoint.url, params=params, headers=endpoint.headers)
    else:
        request = http.post(endpoint.url, json=params, headers=endpoint.headers)
    async with request as response:
        body = await response.content.read(MAX_LOOKUP_BYTES + 1)
        if response.status >= 300:
            raise ValueError(f"HTTP {response.status}")
    if len(body) > MAX_LOOKUP_BYTES:
        raise ValueError(f"answer larger than {MAX_LOOKUP_BYTES} bytes")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("answer is not a JSON object")
    return data


async def build_flow_runtime(
    settings: Settings, inbound: str, http: aiohttp.ClientSession, speech: SpeechService | None = None, distributor: CallDistributor | None = None,
    handoff: CodeClaims | None = None,
) -> FlowRuntime:
    """Validate the folder and prepare every prompt; raises FlowsNotReady naming what to fix."""
    folder = settings.flows.folder
    bundle = await asyncio.to_thread(load_bundle, folder, inbound)
    if speech is not None:
        await speech.prepare(bundle.languages)
        vocabularies = await speech.vocabularies()
        problems = await asyncio.to_thread(bundle.vocabulary_problems, vocabularies)
        if problems:
            raise FlowsNotReady(f"flows.inbound: the flows in {folder} use words the speech model cannot recognise:", tuple(map(str, problems)))
    flow_set = bundle.flow_set
    host_dir, asterisk_dir = settings.prompt_dirs
    cache = PromptCache(host_dir, EspeakNg())
    try:
        prompts = static_prompts(flow_set.flows, flow_set.procedures)
        prompts += [(QUEUE_NOT_CONFIGURED.get(flow.language, QUEUE_NOT_CONFIGURED["en"]), flow.language) for flow in flow_set.flows.values()]
        prompts += [(refused_prompt(flow.language), flow.language) for flow in flow_set.flows.values()] if handoff is not None else []
        report = await asyncio.to_thread(cache.ensure_all, prompts)
        files = await asyncio.to_thread(_copy_prompt_files, bundle.prompt_sources(), cache)
    except (PromptRenderFailed, OSError) as exc:
        raise FlowsNotReady(f"prompts: cannot prepare prompt audio in {host_dir}: {exc}") from None
    log.info("flows ready: %s runs inbound calls; %d prompts rendered, %d reused from %s", inbound, report.rendered, report.reused, host_dir)
    return FlowRuntime(bundle, cache, asterisk_dir, dict(settings.lookups), LookupClient(http), files, speech, distributor, frozenset(prompts), handoff)


async def _clean_prompt_folder(runtime: FlowRuntime) -> None:
    """At start: per-call prompts an engine stopped mid-call left, and cached renders no flow says any
    more (per-caller prompts an older version cached for ever). Best effort: never stops the start."""
    cache = runtime.prompts
    try:
        calls = await asyncio.to_thread(cache.remove_stale_call_prompts, STALE_CALL_PROMPTS_S)
        unused = await asyncio.to_thread(cache.remove_unlisted, runtime.static_prompts, STALE_CALL_PROMPTS_S)
    except OSError as exc:
        log.warning("old prompts in %s were not cleaned up: %s", cache.folder, exc)
        return
    if calls or unused:
        log.info("deleted %d per-call prompts left by stopped engines and %d renders no flow uses from %s", calls, unused, cache.folder)


def _copy_prompt_files(sources: Mapping[str, Path], cache: PromptCache) -> dict[str, str]:
    """Copy each recorded prompt where Asterisk reads prompts, named by content."""
    host_dir = cache.folder
    files: dict[str, str] = {}
    for written, source in sources.items():
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:24]
        host_dir.mkdir(parents=True, exist_ok=True)
        target = host_dir / f"file-{digest}{source.suffix}"
        if not target.exists():  # named by content: one already there may be playing, and is the same
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        cache.share_file(target)
        files[written] = f"file-{digest}"
    return files


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    problems: tuple[str, ...]
    versions: Mapping[str, str]
    """The versions running after the reload (the old ones if it was refused)."""


class FlowLibrary:
    """The running flow set. A reload builds a whole new set and swaps it in only if everything
    validates and renders; calls in progress keep the set they started with (and its versions)."""

    def __init__(
        self,
        settings: Settings,
        inbound: str,
        http: aiohttp.ClientSession,
        current: FlowRuntime,
        seen: tuple[tuple[str, int, int], ...],
        speech: SpeechService | None = None,
        distributor: CallDistributor | None = None,
        handoff: CodeClaims | None = None,
    ) -> None:
        self._settings = settings
        self._speech = speech
        self._distributor = distributor
        self._handoff = handoff
        self.on_swap: Callable[[FlowRuntime], Awaitable[None]] | None = None
        """Called after a reload swapped a new set in (the agents' endpoints follow the agent files)."""
        self._inbound = inbound
        self._http = http
        self.current = current
        self._lock = asyncio.Lock()
        self._seen = seen

    @classmethod
    async def load(
        cls, settings: Settings, http: aiohttp.ClientSession, speech: SpeechService | None = None, distributor: CallDistributor | None = None,
        handoff: CodeClaims | None = None,
    ) -> FlowLibrary | None:
        """None when no flow runs inbound calls (they hear calls.greeting); raises FlowsNotReady."""
        inbound = settings.flows.inbound
        if inbound is None:
            return None
        seen = await asyncio.to_thread(source_fingerprint, settings.flows.folder)
        runtime = await build_flow_runtime(settings, inbound, http, speech, distributor, handoff)
        await _clean_prompt_folder(runtime)
        return cls(settings, inbound, http, runtime, seen, speech, distributor, handoff)

    async def reload(self, why: str) -> ReloadResult:
        """Never raises (but for cancellation): whatever goes wrong is logged and the running set stays."""
        async with self._lock:
            try:
                self._seen = await asyncio.to_thread(source_fingerprint, self._settings.flows.folder)
                runtime = await build_flow_runtime(self._settings, self._inbound, self._http, self._speech, self._distributor, self._handoff)
            except FlowsNotReady as refused:
                log.error("flow reload (%s) refused; the running flows stay:\n%s", why, "\n".join(refused.problems))
                return ReloadResult(False, refused.problems, dict(self.current.bundle.flow_set.versions))
            except Exception as exc:  # a loader bug or a vanished folder must not reach the engine: keep the running set
                problem = f"{self._settings.flows.folder}: the reload failed ({type(exc).__name__}: {exc}); the running flows stay"
                log.error("flow reload (%s) failed; the running flows stay: %s", why, problem, exc_info=exc)
                return ReloadResult(False, (problem,), dict(self.current.bundle.flow_set.versions))
            self.current = runtime
            if self.on_swap is not None:
                try:
                    await self.on_swap(runtime)
                except Exception as exc:  # the flows are swapped in; the agents' endpoints follow at the next reload
                    log.error("flows reloaded (%s), but applying the agents failed: %s", why, exc, exc_info=exc)
            log.info("flows reloaded (%s): %s", why, ", ".join(f"{k} {v}" for k, v in sorted(runtime.bundle.flow_set.versions.items())))
            return ReloadResult(True, (), dict(runtime.bundle.flow_set.versions))

    async def watch(self) -> None:
        """Reload when a file in the flow folder changes; checked every flows.watch_s seconds."""
        interval = self._settings.flows.watch_s
        if interval <= 0:
            await asyncio.Event().wait()  # watching is off: idle until cancelled
        unreadable = ""
        while True:
            await asyncio.sleep(interval)
            try:
                changed = await asyncio.to_thread(source_fingerprint, self._settings.flows.folder) != self._seen
            except OSError as exc:  # the folder is being replaced or is unreadable: look again next time
                if str(exc) != unreadable:
                    unreadable = str(exc)
                    log.warning("flow folder %s cannot be read (%s); the running flows stay", self._settings.flows.folder, exc)
                continue
            unreadable = ""
            if changed:
                await self.reload("files changed")
