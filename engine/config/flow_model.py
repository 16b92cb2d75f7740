"""The flow language: what an operator may write in ivr_flows/*.yaml, as pydantic models.

One model a node type, chosen by the node's `type:`. Every field is documented here because
`threadline schema` turns these models into the JSON Schema editors use for completion; the
examples live in ivr_flows/README.md. Structure only: references between nodes, variables,
conditions and files are checked in flow_validation.py. FlowSet is the validated result the
interpreter runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[a-z][a-z0-9_]{0,63}$"
"""Node, intent, variable and flow names: lower-case words with underscores."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PromptFile(_Strict):
    """A recorded prompt instead of text-to-speech; the path is relative to the flow file."""

    file: str = Field(min_length=1, max_length=255)
    text: str | None = Field(default=None, min_length=1, max_length=2000, description=(
        "What the recording says, shown in the web chat (which cannot play it); the phone plays the file."))


Prompt = Annotated[str, Field(min_length=1, max_length=2000)] | PromptFile
"""Text spoken by TTS, with {variable} templating, or a recorded file."""


class Timing(_Strict):
    """Per-node timers, in seconds. A key press always wins at once."""

    no_input_s: float = Field(default=6.0, gt=0, le=60, description="Silence after the prompt before a no-input reprompt.")
    end_of_speech_s: float = Field(default=0.6, gt=0, le=5, description="Silence that ends the caller's utterance.")
    max_speech_s: float = Field(default=15.0, gt=0, le=60, description="The longest utterance listened to.")
    inter_digit_s: float = Field(default=3.0, gt=0, le=30, description="Pause between keys that ends digit entry.")


class TimingOverride(_Strict):
    no_input_s: float | None = Field(default=None, gt=0, le=60)
    end_of_speech_s: float | None = Field(default=None, gt=0, le=5)
    max_speech_s: float | None = Field(default=None, gt=0, le=60)
    inter_digit_s: float | None = Field(default=None, gt=0, le=30)


Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]


class Intent(_Strict):
    """One answer to an `ask`: matched by scoring the caller's words against its phrases, or by a key."""

    phrases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=100)
    keys: list[Key] = Field(default_factory=list, max_length=10)
    label: str | None = Field(default=None, max_length=100, description="How confirmation names it; default: its first phrase.")
    next: str


class ConfidenceBand(_Strict):
    """Accept at or above `accept`; confirm between `confirm` and `accept`; no-match below `confirm`."""

    accept: float = Field(default=0.75, gt=0, le=1)
    confirm: float = Field(default=0.45, ge=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> ConfidenceBand:
        if self.confirm >= self.accept:
            raise ValueError(f"confirm ({self.confirm}) must be below accept ({self.accept})")
        return self


class Reprompts(_Strict):
    """Escalating prompts (VoiceXML's count): the first is used on the first miss, and so on; the last repeats."""

    no_input: list[Prompt] = Field(default_factory=list, max_length=5)
    no_match: list[Prompt] = Field(default_factory=list, max_length=5)
    max_attempts: int = Field(default=3, ge=1, le=10, description="Misses before `fallback`.")


class _Node(_Strict):
    description: str = Field(default="", max_length=500)


class SayNode(_Node):
    type: Literal["say"]
    prompt: Prompt
    next: str


class AskNode(_Node):
    """A menu or question, answered by speech and keys at once; speech or a key stops the prompt."""

    type: Literal["ask"]
    prompt: Prompt
    intents: dict[Annotated[str, Field(pattern=NAME)], Intent] = Field(min_length=1, max_length=30)
    into: str = Field(default="intent", pattern=NAME, description="Variable that receives the chosen intent's name.")
    confidence: ConfidenceBand = ConfidenceBand()
    confirm_prompt: Prompt | None = Field(default=None, description="Asked in the confirm band; {label} is the intent.")
    reprompts: Reprompts = Reprompts()
    fallback: str
    globals: bool = Field(default=True, description="Whether the flow's global handlers (agent, repeat, help) apply here.")
    timing: TimingOverride = TimingOverride()


class DigitEntry(_Strict):
    min: int = Field(default=1, ge=1, le=32)
    max: int = Field(default=16, ge=1, le=32)
    terminator: Literal["#", "*", ""] = "#"

    @model_validator(mode="after")
    def _ordered(self) -> DigitEntry:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be above max ({self.max})")
        return self


class CollectNode(_Node):
    """Digits or a yes/no answer into a variable. A `sensitive` value is masked everywhere and its audio never kept."""

    type: Literal["collect"]
    prompt: Prompt
    digits: DigitEntry | None = None
    yes_no: bool = False
    into: str = Field(pattern=NAME)
    sensitive: bool = False
    reprompts: Reprompts = Reprompts()
    next: str
    fallback: str
    globals: bool = True
    timing: TimingOverride = TimingOverride()

    @model_validator(mode="after")
    def _one_kind(self) -> CollectNode:
        if (self.digits is None) == (not self.yes_no):
            raise ValueError("set exactly one of `digits:` or `yes_no: true`")
        return self


Scalar = str | int | float | bool


class SetNode(_Node):
    type: Literal["set"]
    values: dict[Annotated[str, Field(pattern=NAME)], Scalar] = Field(min_length=1, max_length=50)
    next: str


class Condition(_Strict):
    if_: str = Field(alias="if", min_length=1, max_length=500, description="e.g. account_status == \"active\" and tries < 3")
    then: str


class BranchNode(_Node):
    type: Literal["branch"]
    when: list[Condition] = Field(min_length=1, max_length=30)
    otherwise: str = Field(alias="else")


class LookupNode(_Node):
    """HTTP GET/POST to a CRM or webhook named in the settings (URLs and secrets stay out of flows)."""

    type: Literal["lookup"]
    endpoint: str = Field(pattern=NAME, description="A name under [lookups] in threadline.toml.")
    method: Literal["GET", "POST"] = "GET"
    params: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")], str] = Field(default_factory=dict, max_length=20)
    into: str = Field(pattern=NAME)
    timeout_s: float = Field(default=3.0, gt=0, le=15)
    hold_prompt: Prompt | None = Field(default=None, description="Played if the answer takes longer than hold_after_s.")
    hold_after_s: float = Field(default=1.0, ge=0, le=10)
    next: str
    on_failure: str


class Step(_Strict):
    id: str = Field(pattern=NAME)
    prompt: Prompt
    question: Prompt = Field(description="A yes/no question such as 'did that fix it?'.")


class StepsNode(_Node):
    """An ordered troubleshooting procedure; each completed step goes to the journey."""

    type: Literal["steps"]
    procedure: str | None = Field(default=None, pattern=NAME, description="A file ivr_flows/steps/<name>.yaml, shared with the agent page.")
    steps: list[Step] = Field(default_factory=list, max_length=20)
    solved: str = Field(description="Where to go when a step fixed it.")
    unsolved: str = Field(description="Where to go when every step was done and it still fails.")

    @model_validator(mode="after")
    def _one_source(self) -> StepsNode:
        if (self.procedure is None) == (not self.steps):
            raise ValueError("set exactly one of `procedure:` (a shared file) or `steps:`")
        return self


class QueueNode(_Node):
    type: Literal["queue"]
    queue: str = Field(pattern=NAME)
    skills: list[Annotated[str, Field(pattern=NAME)]] = Field(default_factory=list, max_length=20)
    priority: int = Field(default=5, ge=1, le=10)


class GotoNode(_Node):
    type: Literal["goto"]
    target: str = Field(description="A node of this flow, or another flow as flow_name or flow_name.node.")


class HangupNode(_Node):
    type: Literal["hangup"]
    prompt: Prompt | None = None


Node = Annotated[
    SayNode | AskNode | CollectNode | SetNode | BranchNode | LookupNode | StepsNode | QueueNode | GotoNode | HangupNode,
    Field(discriminator="type"),
]
NODE_TYPES = ("say", "ask", "collect", "set", "branch", "lookup", "steps", "queue", "goto", "hangup")


class GlobalIntent(_Strict):
    phrases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=100)
    keys: list[Key] = Field(default_factory=list, max_length=10)


class AgentHandler(GlobalIntent):
    """"Agent": straight to a queue with everything collected so far."""

    queue: str = Field(pattern=NAME)


class HelpHandler(GlobalIntent):
    prompt: Prompt


class GlobalHandlers(_Strict):
    agent: AgentHandler | None = None
    repeat: GlobalIntent | None = None
    help: HelpHandler | None = None


class Procedure(_Strict):
    """A troubleshooting procedure shared by flows and the agent page: ivr_flows/steps/<name>.yaml."""

    procedure: str = Field(pattern=NAME)
    description: str = Field(default="", max_length=2000)
    steps: list[Step] = Field(min_length=1, max_length=20)


class Flow(_Strict):
    """One flow file."""

    flow: str = Field(pattern=NAME, description="The flow's name; other flows reach it with goto.")
    language: Literal["ko", "en", "zh"] = "ko"
    description: str = Field(default="", max_length=2000)
    start: str
    timing: Timing = Timing()
    globals: GlobalHandlers = GlobalHandlers()
    nodes: dict[Annotated[str, Field(pattern=NAME)], Node] = Field(min_length=1, max_length=500)


@dataclass(frozen=True)
class FlowSet:
    """Validated flows of one version, with the shared troubleshooting procedures they use."""

    flows: Mapping[str, Flow]
    procedures: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
