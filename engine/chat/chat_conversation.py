"""A chat's way through a flow: the same interpreter as the phone, its commands turned into chat
messages, quick replies and inputs, and what the customer types turned into the facts a caller's
speech and keys are. Pure: no I/O, no clock, no logging.

- `Play` is a bot message; its end is fed back at once (`PromptFinished`), in order.
- Typed text is a sure recognition (`SpeechRecognised` of one hypothesis at confidence 1.0): the
  same phrases, scoring, confidence bands and confirmation as speech decide, since a phrase's
  coverage still sets the band. A lone key (or digits where a node takes digits) is `DigitPressed`.
- No-input and inter-digit timers are the phone's: a chat customer types slowly, so they are never
  armed (an entry ends when it is sent); lookup and hold timers are kept for the adapter to run.
- `Transfer` ends the flow's part: the adapter offers the hand-off (a callback or a code).

The adapter (engine/chat/chat_leg.py) writes `ChatTurn.events` to the leg's journey, in order,
shows the messages and carries out the effects.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from engine.config.flow_model import AskNode, CollectNode, FlowSet, Node, PromptFile, StepsNode
from engine.flows.flow_facts import (
    CallStarted, CancelTimer, DigitPressed, FlowCommand, FlowFact, HangUp, Journal, Lookup, Play, PromptFinished, SpeechRecognised, StartTimer,
    TimerFired, Transfer,
)
from engine.flows.interpreter import MASK, FlowInterpreter
from engine.journey.channel_events import ChatSent, Typed
from engine.journey.events import FlowEntered, FlowResumed, FlowStarted, IntentChosen, JourneyEventModel, NodeEntered, NoMatch, Recognised, SpeechIgnored
from engine.language.intent_matching import Hypothesis

KEPT_TIMERS = frozenset({"lookup_timeout", "hold"})
"""Timer kinds (ids are "<kind>-<n>") a chat runs; no_input and inter_digit are the phone's."""
YES_NO = {"ko": ("네", "아니요"), "en": ("Yes", "No"), "zh": ("是", "不是")}
"""Yes/no button labels in the flow's language (each is in engine/language/answer_words.py too);
the buttons send keys 1 and 2, which every yes/no question takes."""
KEYS = frozenset("0123456789*#")
Effect = Lookup | StartTimer | CancelTimer | Transfer | HangUp
InputKind = Literal["text", "digits", "waiting", "handoff", "closed"]


@dataclass(frozen=True)
class QuickReply:
    """A button: sends `key` as a key press, or else `text` as if typed."""

    label: str
    key: str = ""
    text: str = ""


@dataclass(frozen=True)
class ChatInput:
    """What the page offers now: free text with buttons, a digit entry, nothing while the flow works,
    the hand-off's choices, or nothing more (the chat ended)."""

    kind: InputKind
    replies: tuple[QuickReply, ...] = ()
    masked: bool = False
    """A sensitive entry: the page hides what is typed and the journey keeps ****."""
    min_digits: int = 0
    max_digits: int = 0

    @property
    def takes_input(self) -> bool:
        """Typing and the buttons are taken now (free text, or a digit entry)."""
        return self.kind in ("text", "digits")


@dataclass(frozen=True)
class BotMessage:
    text: str
    node: str
    recording_only: bool = False
    """A recorded prompt with no `text:` alternative: the page says a recording is not shown here."""


@dataclass(frozen=True)
class ChatTurn:
    events: tuple[JourneyEventModel, ...]
    """For the leg's journey, in order: what was typed, the interpreter's own record, each message sent."""
    messages: tuple[BotMessage, ...]
    effects: tuple[Effect, ...]
    input: ChatInput
    notice: str = ""
    """A page message code when the input was not taken: `digits_expected`, `not_now`."""


def file_texts(flow_set: FlowSet) -> dict[str, str]:
    """Recorded prompt file -> its `text:` alternative, across the flows and procedures (the first wins)."""
    texts: dict[str, str] = {}

    def note(prompt: object) -> None:
        if isinstance(prompt, PromptFile) and prompt.text is not None:
            texts.setdefault(prompt.file, prompt.text)

    for flow in flow_set.flows.values():
        note(flow.globals.help.prompt if flow.globals.help is not None else None)
        for node in flow.nodes.values():
            for field in ("prompt", "confirm_prompt", "hold_prompt"):
                note(getattr(node, field, None))
            reprompts = getattr(node, "reprompts", None)
            for prompt in (*getattr(reprompts, "no_input", ()), *getattr(reprompts, "no_match", ())):
                note(prompt)
            for step in node.steps if isinstance(node, StepsNode) else ():
                note(step.prompt)
                note(step.question)
    for steps in flow_set.procedures.values():
        for step in steps:
            note(step.prompt)
            note(step.question)
    return texts


class ChatConversation:
    def __init__(self, flow_set: FlowSet, flow_name: str, variables: Mapping[str, Any]) -> None:
        self.interpreter = FlowInterpreter(flow_set, flow_name, variables)
        self.seed: dict[str, Any] = dict(variables)
        """What the chat began with (who, which channel): never a value collected since, so a
        conversation rebuilt on new flows starts from this and its checkpoint, where sensitive
        values were never written."""
        self._set = flow_set
        self._texts = file_texts(flow_set)
        self.flow_name = flow_name
        self._confirming = False
        self._shown_node = ""
        """The node whose prompts are being sent (from NodeEntered, in the order of the commands)."""
        self.transfer: Transfer | None = None
        """The hand-off the flow asked for (a queue node, or the customer asked for an agent)."""
        self.input = ChatInput("waiting")

    @property
    def node_name(self) -> str:
        return self.interpreter.node_name

    @property
    def language(self) -> str:
        return self.interpreter.language

    def start(self) -> ChatTurn:
        return self._run(self.interpreter.decide(CallStarted()))

    def resume(self, checkpoint: Mapping[str, Any]) -> ChatTurn:
        """Go on at the node of the checkpoint (the leg's last CheckpointSaved): its question is asked again."""
        return self._run(self.interpreter.resume(checkpoint))

    def handed_off(self, transfer: Transfer) -> None:
        """A chat read back after it had reached the hand-off: the flow's part is done, the choices stay."""
        self.interpreter.finished = True
        self.transfer = transfer
        self.input = ChatInput("handoff")

    def fact(self, fact: FlowFact) -> ChatTurn:
        """A lookup's answer or a kept timer's firing, from the adapter."""
        return self._run(self.interpreter.decide(fact))

    def typed(self, raw: str) -> ChatTurn:
        text = " ".join(raw.split())
        if not text or not self.input.takes_input:
            return ChatTurn((), (), (), self.input, "not_now")
        node = self._node()
        sensitive = isinstance(node, CollectNode) and node.sensitive
        typed = Typed(text=MASK if sensitive else text, node=self.node_name)
        compact = text.replace(" ", "").replace("-", "")
        if isinstance(node, CollectNode) and node.digits is not None and compact and set(compact) <= KEYS:
            return self._digits(typed, compact)
        if len(compact) == 1 and compact in KEYS:
            return self._run(self.interpreter.decide(DigitPressed(compact)), [typed])
        turn = self._run(self.interpreter.decide(SpeechRecognised((Hypothesis(text, 1.0),))), [typed])
        if isinstance(node, CollectNode) and node.digits is not None and any(isinstance(e, SpeechIgnored) for e in turn.events):
            return ChatTurn(turn.events, turn.messages, turn.effects, turn.input, "digits_expected")
        return turn

    def pressed(self, index: int) -> ChatTurn:
        """A quick reply of the input now shown, by its place."""
        if not 0 <= index < len(self.input.replies) or not self.input.takes_input:
            return ChatTurn((), (), (), self.input, "not_now")
        reply = self.input.replies[index]
        typed = Typed(text=reply.label, node=self.node_name, button=True)
        if reply.key:
            return self._run(self.interpreter.decide(DigitPressed(reply.key)), [typed])
        return self._run(self.interpreter.decide(SpeechRecognised((Hypothesis(reply.text, 1.0),))), [typed])

    # -- the interpreter's commands ------------------------------------------------------------

    def _digits(self, typed: Typed, keys: str) -> ChatTurn:
        """A digit entry, sent whole: each key in turn while the node still collects, then the entry
        ends as the phone's inter-digit pause would end it."""
        node_name = self.node_name
        commands: list[FlowCommand] = []
        last = len(keys) - 1
        for place, key in enumerate(keys):
            if self.node_name != node_name or self.interpreter.finished:
                break
            step = self.interpreter.decide(DigitPressed(key))
            commands += step
            pause = next((c.timer_id for c in step if isinstance(c, StartTimer) and c.timer_id.startswith("inter_digit-")), None)
            if pause is not None and place == last:  # by place: the last key's value may well come earlier too
                commands += self.interpreter.decide(TimerFired(pause))
        return self._run(commands, [typed])

    def _run(self, commands: list[FlowCommand], first: list[JourneyEventModel] | None = None) -> ChatTurn:
        events: list[JourneyEventModel] = list(first or [])
        messages: list[BotMessage] = []
        effects: list[Effect] = []
        queue: deque[FlowCommand] = deque(commands)
        finished: deque[str] = deque()
        while queue or finished:
            if not queue:
                queue.extend(self.interpreter.decide(PromptFinished(finished.popleft())))
                continue
            command = queue.popleft()
            if isinstance(command, Journal):
                self._note(command.event)
                events.append(command.event)
            elif isinstance(command, Play):
                message = self._message(command)
                messages.append(message)
                events.append(ChatSent(text=message.text, node=message.node))
                finished.append(command.prompt_id)
            elif isinstance(command, (StartTimer, CancelTimer)):
                if command.timer_id.rpartition("-")[0] in KEPT_TIMERS:
                    effects.append(command)
            elif isinstance(command, Transfer):
                self.transfer = command
                effects.append(command)
            elif isinstance(command, (Lookup, HangUp)):
                effects.append(command)
        self.input = self._input()
        return ChatTurn(tuple(events), tuple(messages), tuple(effects), self.input)

    def _note(self, event: JourneyEventModel) -> None:
        if isinstance(event, NodeEntered):
            self.flow_name, self._shown_node, self._confirming = event.flow or self.flow_name, event.node, False
        elif isinstance(event, (FlowStarted, FlowEntered, FlowResumed)):
            self.flow_name = event.flow or self.flow_name
        elif isinstance(event, Recognised) and event.band == "confirm":
            self._confirming = True
        elif isinstance(event, (IntentChosen, NoMatch)):
            self._confirming = False

    def _message(self, play: Play) -> BotMessage:
        if play.text is not None:
            return BotMessage(play.text, self._shown_node)
        text = self._texts.get(play.file or "")
        return BotMessage(text or "", self._shown_node, recording_only=text is None)

    def _node(self) -> Node | None:
        flow = self._set.flows.get(self.flow_name)
        return flow.nodes.get(self.node_name) if flow is not None else None

    def _input(self) -> ChatInput:
        if self.interpreter.finished:
            return ChatInput("handoff" if self.transfer is not None else "closed")
        node = self._node()
        yes, no = YES_NO.get(self.language, YES_NO["en"])
        yes_no = (QuickReply(yes, key="1"), QuickReply(no, key="2"))
        if isinstance(node, StepsNode) and not self._confirming:
            return ChatInput("text", yes_no + self._agent_reply(node))  # mid-procedure the customer may still ask for a person
        if self._confirming or (isinstance(node, CollectNode) and node.yes_no):
            return ChatInput("text", yes_no)
        if isinstance(node, CollectNode) and node.digits is not None:
            return ChatInput("digits", self._agent_reply(node), node.sensitive, node.digits.min, node.digits.max)
        if isinstance(node, AskNode):
            replies = tuple(QuickReply(i.label or i.phrases[0], key=i.keys[0] if i.keys else "", text="" if i.keys else i.phrases[0]) for i in node.intents.values())
            return ChatInput("text", replies + self._agent_reply(node))
        return ChatInput("waiting")  # a lookup, or a prompt the flow has not moved past

    def _agent_reply(self, node: AskNode | CollectNode | StepsNode) -> tuple[QuickReply, ...]:
        """"Talk to someone": the flow's global agent handler, where the node lets globals apply (a
        procedure's question always does, as on the phone)."""
        flow = self._set.flows.get(self.flow_name)
        agent = flow.globals.agent if flow is not None and (isinstance(node, StepsNode) or node.globals) else None
        if agent is None or (isinstance(node, AskNode) and any(set(agent.keys) & set(i.keys) for i in node.intents.values())):
            return ()
        if isinstance(node, CollectNode):  # keys are data there: the agent is asked for in words
            return (QuickReply(agent.phrases[0], text=agent.phrases[0]),)
        return (QuickReply(agent.phrases[0], key=agent.keys[0] if agent.keys else "", text="" if agent.keys else agent.phrases[0]),)
