"""Queues and agents as operator files (ivr_flows/queues/*.yaml, ivr_flows/agents/*.yaml).

Checked like flows, every problem at its file:line:column, and part of `threadline validate` and
of hot reload. Passwords and SIP secrets never live here: files are edited and versioned by
operators, so secrets go to the instance's 0600 secrets file (`threadline agents passwd`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.config.problems import FlowInvalid, FlowProblem
from engine.config.flow_model import QueueNode
from engine.config.flow_validation import LoadedFlow, structure_problem, unknown_word
from engine.language.intent_matching import words
from engine.config.yaml_source import SourceMap, load_flow_file

NAME = r"^[a-z][a-z0-9_]{0,63}$"
QUEUES_FOLDER, AGENTS_FOLDER = "queues", "agents"
Proficiency = Annotated[int, Field(ge=1, le=5)]
_PREFIX = re.compile(r"\+?[0-9]{1,15}", re.ASCII)
UNSAFE_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
"""Unicode categories an agent's name may not hold: control, format, line and paragraph separators,
surrogates, private use, unassigned. Validation refuses them; the pjsip_agents.conf writer
(agent_provisioning.config_safe_name) replaces them."""


@dataclass(frozen=True)
class DiallingRules:
    """A queue's callback.numbers, compiled."""

    pattern: re.Pattern[str]
    """The whole (national-form) number must match."""
    country_code: str = ""
    """The queue's country ("82"): `+82…` becomes `0…`. Empty: `+` numbers are checked as they are."""
    national_prefix: str = "0"
    allow: tuple[str, ...] = ()
    """Prefixes; empty allows every number the pattern and deny list allow."""
    deny: tuple[str, ...] = ()
    per_hour: int = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ServiceLevel(_Strict):
    seconds: float = Field(default=20, gt=0, le=3600, description="Answered within this many seconds counts as in service level.")
    target_percent: float = Field(default=80, gt=0, le=100)


class Relax(_Strict):
    """After `after_s` of waiting, accept agents `lower_by` levels below the required proficiency, or `any`."""

    after_s: float = Field(gt=0, le=3600)
    lower_by: int | None = Field(default=None, ge=1, le=4)
    any: bool = False

    @model_validator(mode="after")
    def _one(self) -> Relax:
        if (self.lower_by is None) == (not self.any):
            raise ValueError("give either `lower_by: N` or `any: true`")
        return self


class Overflow(_Strict):
    """Where a caller goes after `max_wait.seconds`: exactly one of queue, callback, message or flow."""

    queue: str | None = Field(default=None, pattern=NAME)
    callback: bool = False
    message: str | None = Field(default=None, min_length=1, max_length=500)
    flow: str | None = Field(default=None, min_length=1, max_length=130, description="flow or flow.node")

    @model_validator(mode="after")
    def _exactly_one(self) -> Overflow:
        chosen = [name for name, value in (("queue", self.queue), ("callback", self.callback or None), ("message", self.message), ("flow", self.flow)) if value]
        if len(chosen) != 1:
            raise ValueError(f"choose exactly one of queue, callback, message or flow (got {', '.join(chosen) or 'none'})")
        return self


class MaxWait(_Strict):
    seconds: float = Field(default=600, gt=0, le=7200)
    overflow: Overflow


class Announcements(_Strict):
    every_s: float = Field(default=30, ge=10, le=600, description="How often a waiting caller hears its position and the estimated wait.")
    position: bool = True
    wait_estimate: bool = True
    music: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]+$", description="Asterisk music-on-hold class.")


class CallbackNumbers(_Strict):
    """Which numbers may be called back (see engine/acd/callback_numbers.py): checked where they
    enter, the caller ID and keyed digits alike; anything but ASCII digits and a leading + is refused."""

    pattern: str = Field(
        default="0[0-9]{8,10}", min_length=1, max_length=200,
        description="Regular expression the whole number (in national form) must match; the default is a Korean national number: 0 and 8-10 digits.",
    )
    country_code: str = Field(default="82", pattern=r"^([1-9][0-9]{0,2})?$", description="This centre's country: +82... numbers are dialled as 0...; other + numbers are refused. Empty: + numbers are checked as they are.")
    national_prefix: str = Field(default="0", pattern=r"^[0-9]{0,3}$")
    allow: list[str] = Field(default_factory=list, max_length=200, description="Prefixes; empty: every number the pattern and `deny` let through.")
    deny: list[str] = Field(
        default_factory=lambda: ["00", "060"], max_length=200, description="Prefixes never called back; default: 00x international access codes and 060 premium numbers.",
    )
    per_hour: int = Field(default=3, ge=1, le=100, description="At most this many callbacks to one number in any hour.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value, re.ASCII)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc}); write e.g. 0[0-9]{{8,10}} for national numbers or \\+[1-9][0-9]{{7,14}} for E.164") from None
        if compiled.fullmatch("") is not None:
            raise ValueError("the pattern matches an empty number; it must require digits")
        return value

    @field_validator("allow", "deny")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if _PREFIX.fullmatch(prefix) is None:
                raise ValueError(
                    f"prefix {prefix!r} is not a number prefix: write ASCII digits, in the number's national form when `country_code` is set "
                    "(e.g. \"060\"; +82 numbers are compared as 0...), or with a leading + only when `country_code` is empty (e.g. \"+882\")"
                )
        return value

    @model_validator(mode="after")
    def _plus_prefixes_need_no_country(self) -> CallbackNumbers:
        """With a country code, numbers are compared in national form: a + prefix never matches."""
        if not self.country_code:
            return self
        for field_name in ("allow", "deny"):
            plus = next((prefix for prefix in getattr(self, field_name) if prefix.startswith("+")), None)
            if plus is None:
                continue
            own = "+" + self.country_code
            national = self.national_prefix + plus[len(own):]
            instead = f"write {national!r}" if plus.startswith(own) else f"+ numbers other than {own} are refused anyway; remove it"
            raise ValueError(
                f"`{field_name}` prefix {plus!r} can never match: with country_code {self.country_code!r} numbers are compared in national form "
                f"({own}... as {self.national_prefix}...); {instead}, or set country_code: \"\" to compare numbers with their +"
            )
        return self

    def rules(self) -> DiallingRules:
        return DiallingRules(re.compile(self.pattern, re.ASCII), self.country_code, self.national_prefix, tuple(self.allow), tuple(self.deny), self.per_hour)


class CallbackOffer(_Strict):
    offer_after_s: float = Field(default=60, ge=0, le=3600)
    key: Annotated[str, Field(pattern=r"^[0-9*#]$")] = "1"
    phrases: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=20)
    retries: int = Field(default=3, ge=0, le=10)
    retry_delay_s: float = Field(default=120, ge=1, le=3600)
    dial: str = Field(
        default="PJSIP/{number}", min_length=8, max_length=200, pattern=r"\{number\}",
        description="How Asterisk reaches the caller: a dial string with {number}, e.g. PJSIP/{number}@trunk or Local/{number}@outbound.",
    )
    ring_s: float = Field(default=30, ge=5, le=120, description="How long the caller's phone rings before the attempt counts as failed.")
    numbers: CallbackNumbers = CallbackNumbers()


class Retention(_Strict):
    """How long this queue's calls keep their recordings and transcripts (default: recording.keep_days, transcripts.keep_days)."""

    recordings_days: int | None = Field(default=None, ge=1, le=36500)
    transcripts_days: int | None = Field(default=None, ge=1, le=36500)


class QueueSettings(_Strict):
    skills: dict[Annotated[str, Field(pattern=NAME)], Proficiency] = Field(min_length=1, description="Required skill -> minimum proficiency 1-5.")
    priority: int = Field(default=5, ge=1, le=10)
    service_level: ServiceLevel = ServiceLevel()
    short_abandon_s: float = Field(default=5, ge=0, le=60)
    max_wait: MaxWait | None = None
    announce: Announcements = Announcements()
    callback: CallbackOffer | None = None
    relax: list[Relax] = Field(default_factory=list, max_length=10)
    aging_s: float = Field(default=60, gt=0, le=3600, description="Each this many seconds waited raises a caller one priority level.")
    ring_timeout_s: float = Field(default=15, ge=5, le=120)
    wrap_up_s: float = Field(default=30, ge=0, le=1800)
    dispositions: list[Annotated[str, Field(pattern=NAME)]] = Field(default_factory=lambda: ["resolved", "follow_up", "escalated"], min_length=1, max_length=50)
    retention: Retention = Retention()
    survey: str | None = Field(
        default=None, min_length=1, max_length=130,
        description="flow or flow.node the caller goes to when the agent hangs up: a post-call survey whose `collect` nodes "
        "into `csat` (1-5) and `nps` (0-10) are stored per call, agent and queue and shown in reports.",
    )
    secure_entry: str | None = Field(
        default=None, min_length=1, max_length=130,
        description="flow or flow.node an agent can send the caller to (the agent page's Secure entry) to key card or account "
        "details: the agent hears music, the call's recording pauses during `sensitive` collects, and the flow's `queue` "
        "node brings the caller back to the same agent.",
    )


class QueuesFile(_Strict):
    queues: dict[Annotated[str, Field(pattern=NAME)], QueueSettings] = Field(min_length=1)


Role = Literal["agent", "supervisor", "qa", "admin"]


def _agent_role() -> list[Role]:
    return ["agent"]


class AgentSettings(_Strict):
    name: str = Field(min_length=1, max_length=80)
    extension: str = Field(pattern=r"^[0-9]{2,8}$", description="The agent's SIP user and phone extension.")
    skills: dict[Annotated[str, Field(pattern=NAME)], Proficiency] = Field(default_factory=dict)
    roles: list[Role] = Field(default_factory=_agent_role, min_length=1)
    language: Literal["ko", "zh", "en"] | None = Field(default=None, description="The language of this person's pages; unset: their browser's.")

    @field_validator("name")
    @classmethod
    def _one_printable_line(cls, value: str) -> str:
        bad = unsafe_name_character(value)
        if bad is not None:
            raise ValueError(f"contains {bad}; an agent's name is one line of printable text (it goes into Asterisk's config and the agents' pages)")
        return value


def unsafe_name_character(name: str) -> str | None:
    """The first character that may not be in an agent's name (line breaks, control and format
    characters: they could end a line of pjsip_agents.conf and start another), described; or None."""
    for char in name:
        if unicodedata.category(char) in UNSAFE_NAME_CATEGORIES:
            return f"the character U+{ord(char):04X}"
    return None


class AgentsFile(_Strict):
    agents: dict[Annotated[str, Field(pattern=NAME)], AgentSettings] = Field(min_length=1)


@dataclass(frozen=True)
class AcdConfig:
    queues: Mapping[str, QueueSettings]
    agents: Mapping[str, AgentSettings]
    sources: Mapping[str, tuple[SourceMap, tuple[str | int, ...]]]
    """Where each queue and agent was defined (`queue:NAME`, `agent:ID`), for later problems."""


def load_acd(
    folder: Path, flow_queue_uses: Iterable[tuple[SourceMap, tuple[str | int, ...], str]] = (), flows: Mapping[str, LoadedFlow] | None = None
) -> AcdConfig:
    """Every queue and agent file under the flow folder, checked as one set; raises FlowInvalid.

    flow_queue_uses: (where, path, queue name) of each queue a flow hands calls to, so a flow
    pointing at a queue that does not exist is reported at the flow's line."""
    problems: list[FlowProblem] = []
    sources: dict[str, tuple[SourceMap, tuple[str | int, ...]]] = {}
    queues: dict[str, QueueSettings] = _collect(folder / QUEUES_FOLDER, QueuesFile, "queue", problems, sources)
    agents: dict[str, AgentSettings] = _collect(folder / AGENTS_FOLDER, AgentsFile, "agent", problems, sources)
    problems.extend(_cross_checks(queues, agents, sources))
    if flows is not None:
        problems.extend(_flow_targets(queues, sources, flows))
    if queues:
        for where, at, used in flow_queue_uses:
            if used not in queues:
                problems.append(where.at(at, f"queue `{used}` is not defined in {folder / QUEUES_FOLDER}; add it or fix the name (there are: {', '.join(sorted(queues))})"))
    if problems:
        raise FlowInvalid(problems)
    return AcdConfig(queues, agents, sources)


def _collect(folder: Path, model: type[QueuesFile] | type[AgentsFile], kind: str, problems: list[FlowProblem], sources: dict[str, tuple[SourceMap, tuple[str | int, ...]]]) -> dict[str, Any]:
    """The entries of every file in one folder; a name defined twice is reported at its second place."""
    section = f"{kind}s"
    entries: dict[str, Any] = {}
    for file in _files(folder):
        parsed, source = _parse(file, model, f"a {section} file is a mapping with `{section}:`", problems)
        for name, entry in getattr(parsed, section).items() if parsed is not None else ():
            if name in entries:
                first = sources[f"{kind}:{name}"][0].file
                problems.append(source.at((section, name), f"{kind} `{name}` is also defined in {first}; {kind} names must be unique", key=True))
                continue
            entries[name], sources[f"{kind}:{name}"] = entry, (source, (section, name))
    return entries


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []


def _parse(path: Path, model: type[QueuesFile] | type[AgentsFile], shape: str, problems: list[FlowProblem]) -> tuple[QueuesFile | AgentsFile | None, SourceMap]:
    try:
        data, source = load_flow_file(path)
    except FlowInvalid as invalid:
        problems.extend(invalid.problems)
        return None, SourceMap(str(path))
    if not isinstance(data, dict):
        problems.append(source.at((), shape))
        return None, source
    try:
        return model.model_validate(data), source
    except ValidationError as exc:
        problems.extend(structure_problem(error, data, source) for error in exc.errors())
        return None, source


def _cross_checks(queues: Mapping[str, QueueSettings], agents: Mapping[str, AgentSettings], sources: Mapping[str, tuple[SourceMap, tuple[str | int, ...]]]) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    extensions: dict[str, str] = {}
    for agent_id, agent in agents.items():
        source, path = sources["agent:" + agent_id]
        if agent.extension in extensions:
            problems.append(source.at((*path, "extension"), f"extension {agent.extension} is also agent `{extensions[agent.extension]}`'s; each agent needs their own"))
        extensions.setdefault(agent.extension, agent_id)
    for name, queue in queues.items():
        source, path = sources["queue:" + name]
        overflow = queue.max_wait.overflow if queue.max_wait else None
        if overflow is not None and overflow.queue is not None and overflow.queue not in queues:
            problems.append(source.at((*path, "max_wait", "overflow", "queue"), f"overflow queue `{overflow.queue}` is not defined"))
        if overflow is not None and overflow.queue == name:
            problems.append(source.at((*path, "max_wait", "overflow", "queue"), "a queue cannot overflow into itself"))
        if overflow is not None and overflow.callback and queue.callback is None:
            problems.append(source.at(
                (*path, "max_wait", "overflow", "callback"),
                f"overflow `callback: true` needs queue `{name}`'s `callback:` offer (which numbers may be called back, how to dial them): "
                "add `callback:` to the queue, or overflow to a queue, message or flow",
            ))
        if agents and not any(all(agent.skills.get(skill, 0) >= 1 for skill in queue.skills) for agent in agents.values()):
            problems.append(source.at((*path, "skills"), f"no agent has every skill queue `{name}` needs ({', '.join(queue.skills)}): its callers could never be answered"))
    return problems


def _flow_targets(queues: Mapping[str, QueueSettings], sources: Mapping[str, tuple[SourceMap, tuple[str | int, ...]]], flows: Mapping[str, LoadedFlow]) -> list[FlowProblem]:
    """An overflow into a flow, and a secure-entry flow, must name a flow (or flow.node) that exists."""
    problems: list[FlowProblem] = []
    for name, queue in queues.items():
        targets: list[tuple[tuple[str, ...], str | None]] = [
            (("max_wait", "overflow", "flow"), queue.max_wait.overflow.flow if queue.max_wait else None), (("secure_entry",), queue.secure_entry),
            (("survey",), queue.survey),
        ]
        for field_path, target in targets:
            if target is None:
                continue
            flow_name, _, node = target.partition(".")
            loaded = flows.get(flow_name)
            if loaded is None or (node and node not in loaded.flow.nodes):
                source, path = sources["queue:" + name]
                known = ", ".join(sorted(flows)) if loaded is None else ", ".join(sorted(loaded.flow.nodes))
                what = f"flow `{flow_name}`" if loaded is None else f"node `{node}` in flow `{flow_name}`"
                problems.append(source.at((*path, *field_path), f"{what} does not exist (there are: {known}); write flow or flow.node"))
    return problems


def callback_phrase_problems(config: AcdConfig, flows: Mapping[str, LoadedFlow], vocabularies: Mapping[str, frozenset[str]]) -> list[FlowProblem]:
    """A queue's callback phrases must be words the speech model of every flow handing calls to it
    knows (the recogniser would drop the others silently)."""
    languages: dict[str, set[str]] = {}
    for loaded in flows.values():
        for _, _, used in flow_queue_uses({loaded.flow.flow: loaded}):
            languages.setdefault(used, set()).add(loaded.flow.language)
    problems: list[FlowProblem] = []
    for name, queue in config.queues.items():
        offer = queue.callback
        for language in sorted(languages.get(name, set())) if offer is not None else ():
            vocabulary = vocabularies.get(language)
            if vocabulary is None or offer is None:
                continue
            source, path = config.sources["queue:" + name]
            for index, phrase in enumerate(offer.phrases):
                for word in words(phrase):
                    if word not in vocabulary:
                        problems.append(source.at((*path, "callback", "phrases", index), unknown_word(word, phrase, language, vocabulary)))
    return problems


def flow_queue_uses(flows: Mapping[str, LoadedFlow]) -> list[tuple[SourceMap, tuple[str | int, ...], str]]:
    """Every queue a flow hands calls to, with where it is written."""
    uses: list[tuple[SourceMap, tuple[str | int, ...], str]] = []
    for loaded in flows.values():
        agent = loaded.flow.globals.agent
        if agent is not None:
            uses.append((loaded.source, ("globals", "agent", "queue"), agent.queue))
        for name, node in loaded.flow.nodes.items():
            if isinstance(node, QueueNode):
                uses.append((loaded.source, ("nodes", name, "queue"), node.queue))
    return uses
