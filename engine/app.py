"""`threadline run`: wires settings, storage, ARI, AMI, the Stasis app and the HTTP server together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from engine import metrics
from engine.acd.refusal import Refusal
from engine.background_supervisor import HEALTH_COMPONENT, BackgroundSupervisor
from engine.asterisk.ami_client import AmiConnection, AmiEndpoint
from engine.asterisk.ari_client import AriClient, AriEndpoint
from engine.asterisk.ari_events_server import AriEventsServer, EventsListener, EventsPortBusy
from engine.asterisk.backoff import Backoff
from engine.asterisk.errors import AsteriskError
from engine.asterisk.caller_audio import TapRegistry
from engine.config.acd_config import AcdConfig, AgentSettings
from engine.acd.agent_provisioning import ProvisionResult, provision_agents, write_new_secret
from engine.acd.agent_secrets import AgentSecrets, SecretsError
from engine.acd.call_distributor import CallDistributor
from engine.acd.call_monitor import CallMonitor, MonitoringAudit
from engine.acd.floor_view import FloorView, live_floor
from engine.acd.journey_marks import CALLBACK_REQUESTED, previous_call
from engine.acd.owed_callbacks import restore_callbacks
from engine.handoff.code_key import load_code_key
from engine.handoff.handoff_service import HandoffService
from engine.acd.report_commands import ChannelFiguresToday, report_rows
from engine.chat.chat_service import ChatService
from engine.call.flow_services import FlowLibrary, FlowRuntime, ReloadResult, lookup_session
from engine.speech.speech_service import SpeechService
from engine.health import HealthBoard
from engine.call.call_session import utc_now
from engine.call.stasis import StasisApp
from engine.localpbx.credentials import AsteriskCredentials, load_credentials
from engine.log_format import configure_logging
from engine.settings import Settings, SettingsError
from engine.store.database import create_engine, ping, upgrade_database
from engine.store.agent_state_store import AgentStateStore
from engine.store.journey_store import JourneyStore
from engine.api.api_service import JourneyApi, journey_api
from engine.api.leg_events import LegEventRelay
from engine.store.contact_store import ContactStore
from engine.store.monitoring_store import MonitoringStore
from engine.store.recording_store import RecordingStore
from engine.recording.call_recorder import CallRecorder
from engine.recording.retention import purge
from engine.config.qa_config import QualityConfig
from engine.config.staff_files import StaffFiles
from engine.recording.transcriber import Transcriber
from engine.store.qa_store import QaStore
from engine.web.desktop_hub import DesktopHub
from engine.web.caller_page import CallerLine
from engine.web.http_server import Desktop, build_app
from engine.web.http_listener import runner as http_runner
from engine.web.phone_gateway import PhoneGateway, browser_phone_reader
from engine.web.qa_routes import QaDesk
from engine.web.sessions import Sessions

log = logging.getLogger(__name__)
HAND_OVER_S = 5.0
"""At SIGTERM, how long putting live callers on hold for the next engine may take."""
CALLER_PAGE_NUMBER = "1588"
"""What the caller page (/try) dials; every inbound number runs flows.inbound. The demo prints the same."""
NO_DISTRIBUTOR = Refusal("not_available", "no calls are distributed")


class Engine:
    def __init__(self, settings: Settings, announce: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self._announce = announce
        """Called once with the HTTP address when the engine listens (the demo's logins and addresses)."""
        self.board = HealthBoard(("ari", "ami", "database", HEALTH_COMPONENT))
        self.background = BackgroundSupervisor(lambda ok, detail: self.set_state(HEALTH_COMPONENT, ok, detail))
        self.started_at = time.time()
        self.stasis: StasisApp | None = None
        self.asterisk_version = ""
        self._ari: AriClient | None = None
        self._stop = asyncio.Event()
        self._reload_wanted = asyncio.Event()
        self.flows: FlowLibrary | None = None
        self.staff: StaffFiles | None = None
        """Agents and QA files when no flow runs inbound calls (logins must not depend on flows.inbound)."""
        self.speech: SpeechService | None = None
        self._ami: AmiConnection | None = None
        self.distributor: CallDistributor | None = None
        self.sessions = Sessions()
        self.hub = DesktopHub(agent_names=self._agent_names)
        self._reload_pjsip = asyncio.Event()
        self._events_connected = asyncio.Event()
        self._events_lost = asyncio.Event()
        self.qa_desk: QaDesk | None = None
        self._database: AsyncEngine | None = None
        self.monitor: CallMonitor | None = None
        self.api: JourneyApi | None = None
        self._journeys: JourneyStore | None = None
        self.handoff: HandoffService | None = None
        """Chat to phone: the chat's ChatService takes it (call_me_back, i_will_call); calls claim codes through it."""
        self.chat: ChatService | None = None

    def request_stop(self) -> None:
        """SIGTERM/SIGINT: hand live callers over to the next engine, then exit."""
        self._stop.set()

    def request_reload(self) -> None:
        """SIGHUP: reload ivr_flows/ (swapped in only if every flow validates), or without an
        inbound flow re-read the agents, queues and QA files."""
        self._reload_wanted.set()

    def set_state(self, component: str, ok: bool, detail: str) -> None:
        if self.board.set(component, ok, detail, time.time()):
            log.log(logging.INFO if ok else logging.WARNING, "%s %s: %s", component, "up" if ok else "down", detail)

    def status(self) -> dict[str, Any]:
        ast, http = self.settings.asterisk, self.settings.http
        return {
            "uptime_s": round(time.time() - self.started_at, 1),
            "active_calls": self.stasis.active_calls if self.stasis else 0,
            "calls_handled": self.stasis.calls_handled if self.stasis else 0,
            "listening": {"http": f"http://{http.host}:{http.port}"},
            "asterisk": {
                "ari": f"http://{ast.host}:{ast.ari_port}/ari",
                "events": f"ws://{ast.events_host}:{ast.events_port}/ari/events (Asterisk connects to the engine)",
                "ami": f"{ast.host}:{ast.ami_port}",
                "app": ast.app_name,
            },
            "asterisk_version": self.asterisk_version,
            "greeting": self.settings.calls.greeting,
            "flows": {
                "inbound": self.settings.flows.inbound,
                "versions": dict(self.flows.current.bundle.flow_set.versions) if self.flows else {},
            },
            "speech": self.speech.status() if self.speech else {"enabled": False},
            "agents": self.distributor.agents.status_all() if self.distributor else {},
            "engine_wait_s": self.settings.calls.engine_wait_s,
            "pending_journey_writes": self.stasis.pending_journey_writes if self.stasis else 0,
        }

    async def run(self) -> None:
        settings = self.settings
        credentials = load_credentials(settings.credentials_path)
        revision = await upgrade_database(settings.database.url)  # reaches head or raises DatabaseNotReady
        self.set_state("database", True, f"migrated to {revision}")
        database = self._database = create_engine(settings.database.url)
        try:
            await self._serve(credentials, database)
        finally:
            await database.dispose()

    async def _serve(self, credentials: AsteriskCredentials, database: AsyncEngine) -> None:
        settings = self.settings
        ast = settings.asterisk
        ari_endpoint = AriEndpoint(ast.host, ast.ari_port, credentials.ari_user, credentials.ari_password, ast.app_name, ast.connect_timeout_s, ast.ari_max_connections)
        listener = EventsListener(ast.events_host, ast.events_port, credentials.events_user, credentials.events_password)
        self.set_state("ari", False, f"waiting for Asterisk to connect to {listener.url}")
        async with lookup_session() as http_session, AriClient.pooled(ari_endpoint) as ari:
            self._ari = ari
            taps = TapRegistry(ari)
            speech = self.speech = SpeechService(settings.speech, taps)
            try:
                await self._serve_calls(credentials, ari, http_session, database, listener, taps, speech)
            finally:
                speech.close()

    async def _serve_calls(
        self,
        credentials: AsteriskCredentials,
        ari: AriClient,
        http_session: aiohttp.ClientSession,
        database: AsyncEngine,
        listener: EventsListener,
        taps: TapRegistry,
        speech: SpeechService,
    ) -> None:
        settings = self.settings
        ast = settings.asterisk
        store = JourneyStore(database)
        ami = AmiConnection(
            AmiEndpoint(ast.host, ast.ami_port, credentials.ami_user, credentials.ami_secret),
            lambda ok, detail: self.set_state("ami", ok, detail),
            Backoff(max_s=ast.reconnect_max_delay_s),
        )
        self._ami = ami
        recorder = self._recorder(ami, ari, database)
        transcriber = self._transcriber(database, store)
        self.qa_desk = QaDesk(RecordingStore(database), QaStore(database), store, settings.recording.folder, self._quality, self._agent_names, ContactStore(database, store))
        api = self.api = journey_api(database, store, ContactStore(database, store), settings.api, utc_now)
        relay = LegEventRelay(ContactStore(database, store), api.publisher)  # contacts' chat and call legs to the API's webhooks and socket
        store.on_stored, self._journeys = relay.stored, store
        if recorder is not None and transcriber is not None:
            recorder.on_filed = transcriber.submit
        distributor = self.distributor = CallDistributor(
            ari,
            listener=self.hub,
            history=lambda number, current: _previous_calls(store, number, current),
            save=lambda channel, kind, detail: store.add_event_for_channel(channel, kind, utc_now(), detail),
            state_log=lambda agent, status, reason, call: floor.state_changed(agent, status, reason, call),
            login_by_phone=settings.acd.login == "phone",
            recorder=recorder,
            recent_callbacks=lambda since: store.events_of_kinds_since([CALLBACK_REQUESTED], since),
            call_ended=self._legs_changed,
        )
        metrics.REGISTRY.register(metrics.LiveGauges(lambda: {name: s.ok for name, s in self.board.snapshot().items()}, lambda: live_floor(distributor)))
        channel_figures = ChannelFiguresToday(database)  # today's contacts, containment and hand-offs per channel on /metrics
        metrics.REGISTRY.register(metrics.ChannelGauges(lambda: channel_figures.latest))
        audit = MonitoringAudit(MonitoringStore(database))
        monitor = self.monitor = CallMonitor(ari, distributor, audit)
        floor = FloorView(
            distributor, store, AgentStateStore(database), lambda snapshot: self.hub.floor_changed({**snapshot, "calls": monitor.calls(), "monitoring": monitor.sessions()}),
            self._acd_config, self.hub.queues_changed, publish_history=self.hub.floor_history_changed,
        )
        code_key = await load_code_key(settings.handoff.key_file or settings.agent_secrets_path.with_name("handoff.key"))
        self.handoff = HandoffService.for_engine(database, store, distributor, settings.handoff, lambda: self.flows.current.bundle.flow_set.procedures if self.flows else {},
                                                 code_key)
        flows = self.flows = await FlowLibrary.load(settings, http_session, speech, distributor, self.handoff)
        stasis = self.stasis = StasisApp(ari, store, settings.calls, ast.app_name, flows=flows, taps=taps, distributor=distributor, monitor=monitor)
        events = AriEventsServer(listener, stasis.on_event, self._ari_state)
        if flows is not None:
            flows.on_swap = self._provision_agents
            await self._provision_agents(flows.current)
            flow_set = flows.current.bundle.flow_set
            await restore_callbacks(store, distributor, flow_set.procedures, {name: flow.language for name, flow in flow_set.flows.items()}, utc_now())
        else:
            self.staff = StaffFiles(settings.flows.folder, settings.flows.watch_s)
            self.staff.on_load = self.hub.team_changed
            await self.staff.refresh("start")
        http_runner = await self._start_http(credentials)
        try:
            events_runner = await events.start()
        except EventsPortBusy as exc:
            await http_runner.cleanup()
            raise SettingsError(str(exc)) from None
        try:
            async with asyncio.TaskGroup() as tasks:
                # every background task runs under the supervisor: a failure is logged, reported in
                # /healthz and restarted with back-off; it never cancels this group (and so never live calls)
                self.set_state(HEALTH_COMPONENT, True, "all background tasks running")
                # The calls themselves are not background work: stasis catches each call's failure and
                # retries reconciling with back-off; should it still fail, the engine stops and the next
                # one adopts the calls (a restart in place would leave the stopped calls unserved).
                calls = tasks.create_task(stasis.run(), name="stasis")
                background: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
                    ("ami", ami.run),
                    ("database-watch", lambda: self._watch_database(database)),
                    ("ari-rest-watch", self._watch_ari_rest),
                    ("kept-audio-purge", lambda: self._purge_kept_audio(speech)),
                    ("agent-endpoints", self._apply_agent_endpoints),
                    ("acd-agents", distributor.watch_agents),
                    ("supervisor-floor", floor.run),
                    ("channel-figures", channel_figures.run),
                    ("monitoring-audit", audit.run),
                    ("monitoring-cleanup", monitor.clean_up_forever),
                    ("retention-purge", lambda: self._purge_daily(database)),  # journeys too, recorded or not
                ]
                if recorder is not None:
                    background.append(("recording-sweeps", recorder.run_sweeps))
                if transcriber is not None:
                    background.append(("transcriber", transcriber.run))
                if self.staff is not None:
                    background.append(("staff-watch", self.staff.watch))
                if flows is not None:
                    background.append(("flow-watch", flows.watch))
                background.append(("reload-on-sighup", self._reload_on_signal))
                background.append(("api-webhooks", api.deliver_webhooks))
                background.append(("api-leg-events", relay.run))
                running = [self.background.start(tasks, name, factory) for name, factory in background]
                await self._stop.wait()
                log.info("stopping: leaving %d live calls to the next engine", stasis.active_calls)
                distributor.stop_offering()
                await stasis.hand_over(timeout_s=HAND_OVER_S)
                for task in (*running, calls):
                    task.cancel()
        finally:
            await monitor.aclose()  # supervisors' legs and snoops go; their audit rows are written
            await audit.flush()
            await distributor.aclose()
            if recorder is not None:
                await recorder.close()
            await events.close()
            await events_runner.cleanup()
            await http_runner.cleanup()

    def _recorder(self, ami: AmiConnection, ari: AriClient, database: AsyncEngine) -> CallRecorder | None:
        """Agent calls are recorded unless recording.enabled is off."""
        if not self.settings.recording.enabled:
            return None
        spool, asterisk_spool = self.settings.recording_spool_dirs
        return CallRecorder(ami, ari, RecordingStore(database), self.settings.recording.folder, spool, asterisk_spool)

    def _transcriber(self, database: AsyncEngine, journeys: JourneyStore) -> Transcriber | None:
        settings = self.settings
        if not (settings.recording.enabled and settings.transcripts.enabled):
            return None
        return Transcriber(settings.transcripts, settings.speech, QaStore(database), journeys, settings.recording.folder, self._quality, self._agent_names)

    async def _report(self, start: datetime, end: datetime, interval: str, by: str) -> list[dict[str, Any]]:
        if self._database is None:
            return []
        return await report_rows(self._database, self._acd_config(), start, end, interval, by)

    def _quality(self) -> QualityConfig:
        if self.flows is not None:
            return self.flows.current.bundle.quality
        staff = self.staff.current if self.staff is not None else None
        return staff.quality if staff is not None else QualityConfig()

    def _agent_names(self) -> dict[str, str]:
        acd = self._acd_config()
        return {agent_id: agent.name for agent_id, agent in acd.agents.items()} if acd is not None else {}

    async def _provision_agents(self, runtime: FlowRuntime) -> None:
        """Give the ACD the (re)loaded queues and agents, and write the agents' SIP endpoints for
        Asterisk; a new agent's secret goes to a 0600 file, shown once."""
        if runtime.bundle.acd is not None and runtime.distributor is not None:
            runtime.distributor.configure(runtime.bundle.acd)
        self.hub.team_changed()  # names, agents added or removed: the agent pages' directory
        if runtime.bundle.acd is None or not runtime.bundle.acd.agents:
            return
        try:
            result = await asyncio.to_thread(self._write_agent_endpoints, runtime.bundle.acd.agents)
        except (OSError, SecretsError) as exc:
            log.error("agents' SIP endpoints not written: %s", exc)
            return
        if result.changed:
            self._reload_pjsip.set()

    def _write_agent_endpoints(self, agents: Mapping[str, AgentSettings]) -> ProvisionResult:
        settings = self.settings
        result = provision_agents(agents, AgentSecrets(settings.agent_secrets_path), settings.asterisk_etc_dir)
        for agent_id, secret in result.new_secrets.items():
            shown = write_new_secret(settings.instance_dir / "new-sip-secrets", agent_id, agents[agent_id].extension, secret)
            log.warning("agent %s has a new SIP secret in %s: give it to the agent, then delete the file", agent_id, shown)
        return result

    async def _apply_agent_endpoints(self) -> None:
        """`module reload res_pjsip.so` whenever the agents' endpoints changed, once AMI is logged in."""
        while True:
            await self._reload_pjsip.wait()
            if self._ami is None or not self._ami.logged_in:
                await asyncio.sleep(1.0)
                continue
            self._reload_pjsip.clear()
            try:
                await self._ami.command("module reload res_pjsip.so")
                log.info("agents' SIP endpoints reloaded in Asterisk")
            except (AsteriskError, TimeoutError) as exc:
                log.warning("reloading the agents' SIP endpoints failed (%s); retrying", exc)
                self._reload_pjsip.set()
                await asyncio.sleep(2.0)

    async def _purge_daily(self, database: AsyncEngine) -> None:
        """Recordings, transcripts and journeys' personal fields past their retention are removed, at start and then daily."""
        while True:
            try:
                await purge(database, self.settings, self._acd_config(), dry_run=False)
            except Exception as exc:  # the database is away: the next day tries again
                log.error("retention purge failed: %s", exc)
            await asyncio.sleep(86400)

    async def _purge_kept_audio(self, speech: SpeechService) -> None:
        """Kept utterance audio older than speech.keep_audio_days is deleted, at start and then daily."""
        while True:
            removed = await speech.purge_kept_audio()
            if removed:
                log.info("deleted %d kept utterances older than %d days", removed, speech.settings.keep_audio_days)
            await asyncio.sleep(86400)

    async def _reload_on_signal(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            await self._reload("SIGHUP")

    async def _reload(self, why: str) -> ReloadResult:
        """SIGHUP and POST /flows/reload: the flows; without an inbound flow, the agents, queues and
        QA files (a removed agent or role ends that session now, whatever flows.watch_s says)."""
        if self.flows is not None:
            return await self.flows.reload(why)
        problems = await self.staff.refresh(why, force=True) if self.staff is not None else ()
        return ReloadResult(not problems, problems, {})

    async def _watch_database(self, database: AsyncEngine, interval_s: float = 5.0) -> None:
        """Keep the database entry of /healthz true: a stopped PostgreSQL shows as degraded."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await ping(database)
            except Exception as exc:  # any driver error means the same thing here: not answering
                self.set_state("database", False, f"not answering: {exc or type(exc).__name__}")
            else:
                self.set_state("database", True, "answering")

    async def _ari_state(self, connected: bool, detail: str) -> None:
        """Asterisk opened or lost the events websocket. Never blocks: events wait behind this call."""
        if connected:
            self._events_lost.clear()
            self._events_connected.set()
            if self.stasis is not None:
                self.stasis.request_reconcile()
            self.set_state("ari", False, "events connected; checking ARI REST")
        else:
            self._events_connected.clear()
            self._events_lost.set()
            self.set_state("ari", False, detail)

    async def _watch_ari_rest(self) -> None:
        """After each connect, ARI is up once REST answers too (Asterisk connects before it is fully booted)."""
        while True:
            await self._events_connected.wait()
            backoff = Backoff(first_s=0.25, max_s=2.0)
            while self._events_connected.is_set() and self._ari is not None:
                try:
                    info = await self._ari.asterisk_info()
                except AsteriskError as exc:
                    self.set_state("ari", False, f"events connected, but ARI REST does not answer yet: {exc}")
                    await asyncio.sleep(backoff.next_delay())
                    continue
                self.asterisk_version = str(info.get("system", {}).get("version", ""))
                self.set_state("ari", True, "Asterisk connected")
                break
            await self._events_lost.wait()  # then check again after the next connect

    def _roles_of(self, agent_id: str) -> frozenset[str] | None:
        acd = self._acd_config()
        agent = acd.agents.get(agent_id) if acd is not None else None
        return frozenset(agent.roles) if agent is not None else None

    def _language_of(self, agent_id: str) -> str | None:
        acd = self._acd_config()
        agent = acd.agents.get(agent_id) if acd is not None else None
        return agent.language if agent is not None else None

    def _check_password(self, agent_id: str, password: str) -> bool:
        """Blocking (argon2, a file read): the web layer calls it in a thread."""
        try:
            return AgentSecrets(self.settings.agent_secrets_path).check_web_password(agent_id, password)
        except SecretsError as exc:
            log.error("login refused: %s", exc)
            return False

    def _password_versions(self) -> dict[str, str] | None:
        """Blocking (a file read): the web layer ends sessions whose password changed; None if unreadable now."""
        try:
            return AgentSecrets(self.settings.agent_secrets_path).web_password_versions()
        except SecretsError:
            return None

    def _acd_config(self) -> AcdConfig | None:
        if self.flows is not None:
            return self.flows.current.bundle.acd
        staff = self.staff.current if self.staff is not None else None
        return staff.acd if staff is not None else None

    def _supervise(self, supervisor: str, agent_id: str, status: str, reason: str) -> str | None:
        """A supervisor sets an agent's state from the floor page; logged with who did it."""
        acd = self._acd_config()
        if acd is None or self.distributor is None or agent_id not in acd.agents:
            return Refusal("no_such_agent", f"no agent `{agent_id}`")
        log.info("supervisor %s set agent %s to %s%s", supervisor, agent_id, status, f" ({reason})" if reason else "")
        self.distributor.agents.action(agent_id, status, reason)
        return None

    def _extend_wrap_up(self, agent_id: str, seconds: float) -> str | None:
        return self.distributor.agents.extend_wrap_up(agent_id, seconds) if self.distributor is not None else NO_DISTRIBUTOR

    async def _transfer(self, agent_id: str, call_id: str, target: str) -> str | None:
        if self.distributor is None:
            return NO_DISTRIBUTOR
        return await self.distributor.transfer(agent_id, call_id, target)

    async def _secure_entry(self, agent_id: str, call_id: str) -> str | None:
        if self.distributor is None:
            return NO_DISTRIBUTOR
        return await self.distributor.secure_entry(agent_id, call_id)

    def _agent_state(self, agent_id: str) -> dict[str, Any] | None:
        return self.distributor.agents.shown_state(agent_id) if self.distributor is not None else None

    def _agent_action(self, agent_id: str, action: str, reason: str) -> None:
        if self.distributor is not None:
            self.distributor.agents.action(agent_id, action, reason)

    async def _wrap_up(self, agent_id: str, call_id: str, disposition: str, notes: str) -> str | None:
        if self.distributor is None:
            return NO_DISTRIBUTOR
        refused = await self.distributor.wrap_up(agent_id, call_id, disposition, notes)
        if refused is None:
            await self._legs_changed(call_id)
        return refused

    async def _legs_changed(self, channel_id: str) -> None:
        """A phone leg ended or got its disposition: its contact's open chat pages hear it ("and back")."""
        contact = await ContactStore(self._database, JourneyStore(self._database)).contact_of_leg(channel_id) if self.chat and self._database else None
        if contact is not None and self.chat is not None:
            await self.chat.legs_changed(contact.id)

    async def _start_http(self, credentials: AsteriskCredentials) -> web.AppRunner:
        http = self.settings.http
        asterisk_ws_url = f"ws://{self.settings.asterisk.host}:{self.settings.asterisk.ari_port}/ws"
        caller_line = CallerLine(asterisk_ws_url, self.settings.asterisk.host, credentials.try_user, credentials.try_password, CALLER_PAGE_NUMBER) \
            if http.caller_page else None
        reload = self._reload if self.flows is not None or self.staff is not None else None
        desktop = Desktop(self.sessions, self.hub, self._roles_of, self._check_password, self._agent_state, self._agent_action, self._wrap_up, self._supervise, self._transfer,
                          extend_wrap_up=self._extend_wrap_up, log_out_with_page=self.settings.acd.login == "desktop", secure_entry=self._secure_entry,
                          password_versions=self._password_versions, phone=PhoneGateway(
                              asterisk_ws_url, self.settings.asterisk.host,
                              browser_phone_reader(self.settings.agent_secrets_path, self._acd_config),
                              browser_phone_reader(self.settings.agent_secrets_path, self._acd_config, supervisor_page=True)), language_of=self._language_of,
                          monitor=self.monitor, monitoring_audit=MonitoringStore(self._database).since if self._database is not None else None)
        database = self._database if self.settings.chat.enabled else None  # the web chat: the same flows, in text
        journeys = self._journeys if database else None
        chat = self.chat = ChatService(self.settings.chat, lambda: self.flows.current if self.flows else None, journeys, ContactStore(database, journeys), self.handoff) if database and journeys else None
        if self.settings.chat.enabled and chat is None:
            log.warning("chat.enabled is on but this engine has no database (database.url): /chat stays off")
        runner = http_runner(build_app(self.board, self.status, reload, http.admin_token, desktop, self.qa_desk, self._report, http, caller_line, self.api, chat), http)
        await runner.setup()
        site = web.TCPSite(runner, http.host, http.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise SettingsError(
                f"http.port: cannot listen on {http.host}:{http.port} ({exc.strerror}); "
                "stop the other program or set http.port to a free port"
            ) from None
        addresses = [f"http://{host}:{port}" for host, port, *_ in (s.getsockname() for s in site._server.sockets)]  # type: ignore[union-attr]
        ast = self.settings.asterisk
        print(
            f"threadline listening: HTTP {', '.join(addresses)} (/healthz, /status); "
            f"Asterisk events ws://{ast.events_host}:{ast.events_port}/ari/events, "
            f"ARI http://{ast.host}:{ast.ari_port}/ari app={ast.app_name}, AMI {ast.host}:{ast.ami_port}, "
            f"SIP calls to sip:ANY@127.0.0.1:{ast.sip_port}",
            flush=True,
        )
        if self._announce is not None:
            self._announce(addresses[0])
        return runner


async def run_engine(settings: Settings, demo: bool = False, new_passwords: bool = False) -> int:
    configure_logging(settings.log.format, settings.log.level)
    async with contextlib.AsyncExitStack() as demo_services:
        announce: Callable[[str], None] | None = None
        if demo:
            from engine.demo.demo_mode import demo_running

            settings, announce = await demo_services.enter_async_context(demo_running(settings, new_passwords))
        return await _run_until_stopped(Engine(settings, announce))


async def _run_until_stopped(engine: Engine) -> int:
    """SIGTERM/SIGINT hand callers over and stop; a second one stops at once; SIGHUP reloads the flows."""
    task = asyncio.create_task(engine.run(), name="engine")
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            engine.request_stop()  # hand callers over, drain the journey, exit
        else:
            task.cancel()  # a second signal: stop now

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    loop.add_signal_handler(signal.SIGHUP, engine.request_reload)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("engine stopped")
    return 0


async def _previous_calls(store: JourneyStore, caller_number: str, current: str) -> list[dict[str, Any]]:
    """The number's earlier calls for the screen-pop: when, what about, how it ended."""
    return [previous_call(call.arrived_at, call.hung_up_by, call.events, call.channel) for call in await store.previous_calls(caller_number, current)]

