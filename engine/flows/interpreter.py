"""The flow interpreter: one call's way through a flow. Pure: facts in, commands out.

No I/O, no clock, no logging: timers are commands and their firing is a fact, so every no-input,
inter-digit, hold and timeout rule is tested without a loop. The adapter (the call session) turns
ARI events, recogniser results and HTTP answers into facts and carries the commands out; the
interpreter records its own reasons in the journey with Journal commands.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.flows.flow_facts import (
    CallStarted, CancelTimer, DigitPressed, FlowCommand, FlowFact, HangUp, Journal, Listen, Lookup, LookupAnswered, Play,
    PromptFinished, QueueLeft, SpeechRecognised, SpeechStarted, StartTimer, StopListening, StopPrompt, TimerFired, Transfer,
)
from engine.config.conditions import parse_condition
from engine.config.flow_model import (
    AskNode,
    BranchNode,
    CollectNode,
    Flow,
    FlowSet,
    GotoNode,
    HangupNode,
    LookupNode,
    Node,
    Prompt,
    PromptFile,
    QueueNode,
    SayNode,
    SetNode,
    Step,
    StepsNode,
    Timing,
)
from engine.journey.events import (
    BargedIn, BranchTaken, CheckpointSaved, Collected, FellBack, FlowContinued, FlowEntered, FlowFailed, FlowRestarted, FlowResumed,
    FlowStarted, HelpAsked, IntentChosen, LookedUp, NoInput, NoMatch, NodeEntered, Recognised, RepeatAsked, SpeechIgnored, StepDone,
    StepsUnsolved, TransferAsked, VariablesSet,
)
from engine.language.answer_words import NO_WORDS, YES_WORDS
from engine.language.intent_matching import IntentScore, score_intents

MAX_INSTANT_STEPS = 100
"""Set, branch and goto nodes run without waiting; more than this in a row is a loop no caller may sit in."""
MASK = "****"
GLOBAL_BY_SPEECH = 0.75
"""Where speech is not the answer (digit entry), a global handler is taken from speech only this sure."""
GLOBAL_INTENTS = ("agent", "repeat", "help")


@dataclass
class _Waiting:
    """What the current node is waiting for."""

    phase: str = "idle"  # prompting, waiting, confirming, digits, lookup, step_prompt, step_question, done
    prompts: list[str] = field(default_factory=list)
    candidate: IntentScore | None = None
    digits: str = ""
    step: int = 0
    request_id: str = ""


class FlowInterpreter:
    def __init__(self, flow_set: FlowSet, flow_name: str, variables: Mapping[str, Any]) -> None:
        self._set = flow_set
        self._flow = flow_set.flows[flow_name]
        self.variables: dict[str, Any] = dict(variables)
        self.node_name = ""
        self._sensitive: set[str] = set()
        self._attempts = 0
        self._wait = _Waiting()
        self._sequence = 0
        self._timers: dict[str, str] = {}
        self._swallow_key = ""
        self._first_step = 0
        self.finished = False

    # -- what the adapter may ask ------------------------------------------------------------

    @property
    def language(self) -> str:
        """The language of the flow the call is in now (a goto may have changed it)."""
        return self._flow.language

    @property
    def playing(self) -> tuple[str, ...]:
        """Prompt ids that may still be playing (to silence them when the call is handed over)."""
        return tuple(self._wait.prompts)

    @property
    def keys_are_sensitive(self) -> bool:
        """True while a sensitive collect runs: the adapter must not journal or log the keys."""
        node = self._node()
        return isinstance(node, CollectNode) and node.sensitive

    def enter_node(self, node_name: str) -> list[FlowCommand]:
        """Start at a node instead of the flow's start: `threadline speech test` listens at one `ask`."""
        return self._enter(node_name)

    def resume(self, checkpoint: Mapping[str, Any]) -> list[FlowCommand]:
        """Go on from the last place the caller was asked something (a call adopted by a new engine).

        The caller hears that question again, not the whole flow; values collected so far are kept
        (sensitive ones were never stored, so those nodes ask again). A checkpoint this flow set
        cannot honour (the flow was edited since) starts the flow from the beginning instead.
        """
        flow = self._set.flows.get(str(checkpoint.get("flow", "")))
        node_name = str(checkpoint.get("node", ""))
        node = flow.nodes.get(node_name) if flow else None
        if flow is None or not isinstance(node, (AskNode, CollectNode, StepsNode)):
            return [Journal(FlowRestarted(reason="the checkpoint does not fit the running flows")), *self.decide(CallStarted())]
        self._flow = flow
        saved = checkpoint.get("variables")
        self.variables.update(saved if isinstance(saved, Mapping) else {})
        resumed = Journal(FlowResumed(flow=flow.flow, node=node_name, version=self._set.versions.get(flow.flow, "")))
        step = checkpoint.get("step")
        if isinstance(node, StepsNode) and isinstance(step, int) and 0 < step < len(self._steps(node)):
            self._first_step = step  # an agent-facing procedure resumes at the first unfinished step
        return [resumed, *self._enter(node_name)]

    def hand_over(self, queue: str, skills: tuple[str, ...], priority: int, reason: str) -> list[FlowCommand]:
        """Straight to a queue from wherever the flow is (a call that goes on from a chat): its prompts stop."""
        return [*self._stop_prompts(), *self._transfer(queue, skills, priority, reason)]

    def listen_phrases(self, node_name: str) -> tuple[str, ...]:
        """The grammar a node listens with: its intents' phrases and the global handlers' phrases."""
        node = self._flow.nodes[node_name]
        return self._grammar(node) if isinstance(node, (AskNode, CollectNode)) else ()

    def decide(self, fact: FlowFact) -> list[FlowCommand]:
        if isinstance(fact, QueueLeft):  # the one fact that brings a finished (handed-over) flow back
            self.finished = False
            self._wait = _Waiting()
            return [Journal(FlowContinued(to=fact.target, reason=fact.reason)), *self._enter(fact.target)]
        if self.finished:
            return []
        if isinstance(fact, CallStarted):
            version = self._set.versions.get(self._flow.flow, "")
            return [Journal(FlowStarted(flow=self._flow.flow, version=version)), *self._enter(self._flow.start)]
        if isinstance(fact, TimerFired):
            return self._timer_fired(fact.timer_id)
        node = self._node()
        if isinstance(fact, PromptFinished):
            return self._prompt_finished(node, fact.prompt_id)
        if isinstance(fact, SpeechStarted):
            return self._barge_in()
        if isinstance(fact, DigitPressed):
            return self._digit(node, fact.digit)
        if isinstance(fact, SpeechRecognised):
            return self._speech(node, fact)
        if isinstance(fact, LookupAnswered):
            return self._lookup_answered(node, fact)
        return []

    # -- moving between nodes ------------------------------------------------------------------

    def _node(self) -> Node | None:
        return self._flow.nodes.get(self.node_name)

    def _enter(self, target: str, instant_steps: int = 0) -> list[FlowCommand]:
        if instant_steps > MAX_INSTANT_STEPS:
            return self._give_up("the flow looped through set/branch/goto nodes without waiting for the caller")
        if "." in target or (target not in self._flow.nodes and target in self._set.flows):
            return self._enter_flow(target, instant_steps)
        commands: list[FlowCommand] = [*self._cancel_timers()]
        self.node_name, self._attempts, self._wait = target, 0, _Waiting()
        node = self._flow.nodes[target]
        commands.append(Journal(NodeEntered(flow=self._flow.flow, node=target, type=node.type)))
        if isinstance(node, (SetNode, BranchNode, GotoNode)):
            return commands + self._instant(node, instant_steps)
        return commands + self._start(node)

    def _enter_flow(self, target: str, instant_steps: int) -> list[FlowCommand]:
        flow_name, _, node_name = target.partition(".")
        self._flow = self._set.flows[flow_name]
        version = self._set.versions.get(flow_name, "")
        return [Journal(FlowEntered(flow=flow_name, version=version)), *self._enter(node_name or self._flow.start, instant_steps + 1)]

    def _instant(self, node: SetNode | BranchNode | GotoNode, instant_steps: int) -> list[FlowCommand]:
        if isinstance(node, SetNode):
            for name, value in node.values.items():
                self.variables[name] = self._render(value) if isinstance(value, str) else value
            return [Journal(VariablesSet(values={name: self._shown(name) for name in node.values})), *self._enter(node.next, instant_steps + 1)]
        if isinstance(node, GotoNode):
            return self._enter(node.target, instant_steps + 1)
        for index, condition in enumerate(node.when):
            if parse_condition(condition.if_).evaluate(self.variables):
                return [Journal(BranchTaken(condition=condition.if_, index=index)), *self._enter(condition.then, instant_steps + 1)]
        return [Journal(BranchTaken(condition="else")), *self._enter(node.otherwise, instant_steps + 1)]

    def _start(self, node: Node) -> list[FlowCommand]:
        if isinstance(node, SayNode):
            return self._play_prompts([node.prompt], barge_in=False)
        if isinstance(node, (AskNode, CollectNode)):
            if isinstance(node, CollectNode) and node.sensitive:
                self._sensitive.add(node.into)
            return [self._checkpoint(), *self._ask(node, [node.prompt])]
        if isinstance(node, LookupNode):
            return self._start_lookup(node)
        if isinstance(node, StepsNode):
            first, self._first_step = self._first_step, 0
            return self._play_step(node, first)
        if isinstance(node, QueueNode):
            return self._transfer(node.queue, tuple(node.skills), node.priority, "queue node")
        assert isinstance(node, HangupNode)
        if node.prompt is None:
            return self._finish(HangUp("flow ended"))
        return self._play_prompts([node.prompt], barge_in=False)

    # -- prompts -------------------------------------------------------------------------------

    def _play_prompts(self, prompts: list[Prompt], barge_in: bool) -> list[FlowCommand]:
        commands: list[FlowCommand] = []
        self._wait.prompts = []
        for prompt in prompts:
            prompt_id = self._next_id("prompt")
            self._wait.prompts.append(prompt_id)
            text, file = (None, prompt.file) if isinstance(prompt, PromptFile) else (self._render(prompt), None)
            commands.append(Play(prompt_id, text, file, self._flow.language, barge_in))
        if self._wait.phase in ("idle", "waiting"):
            self._wait.phase = "prompting"
        return commands

    def _stop_prompts(self) -> list[FlowCommand]:
        stops: list[FlowCommand] = [StopPrompt(prompt_id) for prompt_id in self._wait.prompts]
        self._wait.prompts = []
        return stops

    def _prompt_finished(self, node: Node | None, prompt_id: str) -> list[FlowCommand]:
        if prompt_id not in self._wait.prompts:
            return []  # an earlier prompt's end, or one stopped by barge-in
        self._wait.prompts.remove(prompt_id)
        if self._wait.prompts:
            return []  # more prompts of this turn are queued behind it
        if isinstance(node, SayNode):
            return self._enter(node.next)
        if isinstance(node, HangupNode):
            return self._finish(HangUp("flow ended"))
        if isinstance(node, StepsNode):
            return self._step_prompt_done(node)
        if isinstance(node, (AskNode, CollectNode)):
            return self._await_answer(node)
        return []  # a hold prompt during a lookup

    def _await_answer(self, node: AskNode | CollectNode) -> list[FlowCommand]:
        if self._wait.phase == "prompting":
            self._wait.phase = "waiting"
        return [self._arm("no_input", self._timing(node).no_input_s)]

    def _barge_in(self) -> list[FlowCommand]:
        node = self._node()
        if not isinstance(node, (AskNode, CollectNode, StepsNode)) or not self._wait.prompts:
            return []
        return [*self._stop_prompts(), *self._cancel("no_input"), Journal(BargedIn(node=self.node_name))]

    # -- ask and collect -------------------------------------------------------------------------

    def _ask(self, node: AskNode | CollectNode, prompts: list[Prompt]) -> list[FlowCommand]:
        self._wait.phase = "digits" if isinstance(node, CollectNode) and node.digits else "prompting"
        self._wait.digits = ""
        timing = self._timing(node)
        listen = Listen(self._grammar(node), self._flow.language, timing.end_of_speech_s, timing.max_speech_s)
        return [*self._play_prompts(prompts, barge_in=True), listen]

    def _grammar(self, node: AskNode | CollectNode) -> tuple[str, ...]:
        phrases: list[str] = []
        if isinstance(node, AskNode):
            for intent in node.intents.values():
                phrases.extend(intent.phrases)
        elif node.yes_no:
            phrases.extend((*YES_WORDS[self._flow.language], *NO_WORDS[self._flow.language]))
        if node.globals:
            for handler in (self._flow.globals.agent, self._flow.globals.repeat, self._flow.globals.help):
                if handler is not None:
                    phrases.extend(handler.phrases)
        return tuple(dict.fromkeys(phrases))

    def _digit(self, node: Node | None, digit: str) -> list[FlowCommand]:
        swallow, self._swallow_key = self._swallow_key, ""
        if digit == swallow:
            return []
        if isinstance(node, StepsNode) and self._wait.phase == "step_question":
            return self._step_agent(node, digit in (self._flow.globals.agent.keys if self._flow.globals.agent else ())) or self._step_answer(node, {"1": True, "2": False}.get(digit))
        if not isinstance(node, (AskNode, CollectNode)):
            return []
        commands: list[FlowCommand] = [*self._stop_prompts(), *self._cancel("no_input")]
        if isinstance(node, CollectNode) and node.digits is not None:
            return commands + self._collect_digit(node, digit)  # keys are data here, never global handlers
        handler = self._global_for_key(node, digit)
        if handler:
            return commands + self._global(node, handler)
        if self._wait.phase == "confirming":
            return commands + self._confirmed(node, {"1": True, "2": False}.get(digit))
        if isinstance(node, CollectNode):
            return commands + self._yes_no(node, {"1": True, "2": False}.get(digit), f"key {digit}")
        for intent_name, intent in node.intents.items():
            if digit in intent.keys:
                return commands + self._choose(node, IntentChosen(node=self.node_name, intent=intent_name, into=node.into, key=digit))
        return commands + self._miss(node, NoMatch(key=digit))

    def _collect_digit(self, node: CollectNode, digit: str) -> list[FlowCommand]:
        assert node.digits is not None
        if digit == node.digits.terminator and node.digits.terminator:
            return self._digits_done(node)
        self._wait.digits += digit
        if len(self._wait.digits) >= node.digits.max:
            self._swallow_key = node.digits.terminator  # callers often press it anyway: it is not the next menu's
            return self._digits_done(node)
        return [self._arm("inter_digit", self._timing(node).inter_digit_s)]

    def _digits_done(self, node: CollectNode) -> list[FlowCommand]:
        assert node.digits is not None
        entered, self._wait.digits = self._wait.digits, ""
        commands: list[FlowCommand] = [*self._cancel("inter_digit")]
        if len(entered) < node.digits.min:
            return commands + self._miss(node, NoMatch(digits=len(entered)))
        self.variables[node.into] = entered
        shown = MASK if node.sensitive else entered
        return commands + [StopListening(), Journal(Collected(node=self.node_name, into=node.into, value=shown, length=len(entered))), *self._enter(node.next)]

    def _speech(self, node: Node | None, fact: SpeechRecognised) -> list[FlowCommand]:
        if isinstance(node, StepsNode) and self._wait.phase == "step_question":
            agent = self._flow.globals.agent
            asked = agent is not None and any(s.confidence >= GLOBAL_BY_SPEECH for s in score_intents(fact.alternatives[:1], {"agent": tuple(agent.phrases)}))
            return self._step_agent(node, asked) or self._step_answer(node, self._yes_no_words(fact))
        if not isinstance(node, (AskNode, CollectNode)):
            return []
        sensitive = isinstance(node, CollectNode) and node.sensitive
        heard = [{"text": MASK if sensitive else h.text, "confidence": h.confidence} for h in fact.alternatives[:3]]
        if isinstance(node, CollectNode) and node.digits is not None and self._wait.phase != "confirming":
            return self._speech_during_digits(node, fact, heard)
        commands: list[FlowCommand] = [*self._stop_prompts(), *self._cancel("no_input")]
        if self._wait.phase == "confirming":
            return commands + self._confirmed(node, self._yes_no_words(fact))
        if isinstance(node, CollectNode):
            if node.yes_no:
                return commands + self._yes_no(node, self._yes_no_words(fact), "speech")
            return commands + self._global_by_speech(node, fact, heard)
        targets = {name: tuple(intent.phrases) for name, intent in node.intents.items()}
        targets.update(self._global_phrases(node))
        # A global handler has no confirmation: taken only when sure (in the middle band it took callers to agents wrongly).
        ranked = [s for s in score_intents(fact.alternatives, targets) if s.intent in node.intents or s.intent not in GLOBAL_INTENTS or s.confidence >= node.confidence.accept]
        if not ranked or ranked[0].confidence < node.confidence.confirm:
            return commands + self._miss(node, NoMatch(heard=heard, best=_score(ranked[0]) if ranked else None))
        best = ranked[0]
        if best.intent in GLOBAL_INTENTS and best.intent not in node.intents:
            recognised = Recognised(heard=heard, intent=best.intent, confidence=best.confidence, phrase=best.phrase, band="global")
            return commands + [Journal(recognised), *self._global(node, best.intent)]
        if best.confidence >= node.confidence.accept:
            return commands + self._choose(node, IntentChosen(
                node=self.node_name, intent=best.intent, into=node.into, heard=heard, confidence=best.confidence, phrase=best.phrase, band="accept"))
        self._wait.phase, self._wait.candidate = "confirming", best
        label = node.intents[best.intent].label or node.intents[best.intent].phrases[0]
        confirm = node.confirm_prompt or (f"{label}?")
        self.variables["label"] = label
        timing = self._timing(node)
        yes_no = Listen(self._yes_no_grammar(node), self._flow.language, timing.end_of_speech_s, timing.max_speech_s)
        recognised = Recognised(heard=heard, intent=best.intent, confidence=best.confidence, phrase=best.phrase, band="confirm")
        return commands + [Journal(recognised), *self._play_prompts([confirm], barge_in=True), yes_no]

    def _yes_no_grammar(self, node: AskNode | CollectNode) -> tuple[str, ...]:
        phrases = [*YES_WORDS[self._flow.language], *NO_WORDS[self._flow.language]]
        for handler_phrases in self._global_phrases(node).values():
            phrases.extend(handler_phrases)
        return tuple(dict.fromkeys(phrases))

    def _speech_during_digits(self, node: CollectNode, fact: SpeechRecognised, heard: list[dict[str, Any]]) -> list[FlowCommand]:
        """While keys are the answer, only a global handler ("상담원") is taken from speech; anything else
        (a cough, "잠깐만요") is ignored, so the keys entered so far and the timers stay as they are."""
        ranked = score_intents(fact.alternatives, self._global_phrases(node))
        if ranked and ranked[0].confidence >= GLOBAL_BY_SPEECH:
            commands: list[FlowCommand] = [*self._stop_prompts(), *self._cancel("no_input"), *self._cancel("inter_digit")]
            return commands + [Journal(Recognised(heard=heard, intent=ranked[0].intent, band="global")), *self._global(node, ranked[0].intent)]
        return [Journal(SpeechIgnored(node=self.node_name, heard=heard, why="keys are the answer here"))]

    def _global_by_speech(self, node: CollectNode, fact: SpeechRecognised, heard: list[dict[str, Any]]) -> list[FlowCommand]:
        ranked = score_intents(fact.alternatives, self._global_phrases(node))
        if ranked and ranked[0].confidence >= GLOBAL_BY_SPEECH:
            return [Journal(Recognised(heard=heard, intent=ranked[0].intent, band="global")), *self._global(node, ranked[0].intent)]
        return self._miss(node, NoMatch(heard=heard))

    def _confirmed(self, node: AskNode | CollectNode, yes: bool | None) -> list[FlowCommand]:
        candidate = self._wait.candidate
        self._wait.phase, self._wait.candidate = "waiting", None
        self.variables.pop("label", None)
        if yes and candidate is not None and isinstance(node, AskNode):
            return self._choose(node, IntentChosen(node=self.node_name, intent=candidate.intent, into=node.into, confirmed=True, confidence=candidate.confidence))
        # Refused or unclear: back to the menu, where keys always work.
        return self._miss(node, NoMatch(confirmation="refused" if yes is False else "unclear"))

    def _yes_no(self, node: CollectNode, yes: bool | None, how: str) -> list[FlowCommand]:
        if yes is None:
            return self._miss(node, NoMatch(answer=how))
        self.variables[node.into] = yes
        return [StopListening(), Journal(Collected(node=self.node_name, into=node.into, value=MASK if node.sensitive else yes)), *self._enter(node.next)]

    def _yes_no_words(self, fact: SpeechRecognised) -> bool | None:
        """Yes or no by whole words (네 alone, not the 네 of 네트워크); both or neither is unclear."""
        language = self._flow.language
        ranked = {s.intent: s.phrase for s in score_intents(fact.alternatives[:1], {"yes": YES_WORDS[language], "no": NO_WORDS[language]}) if s.confidence > 0}
        if len(ranked) == 2 and ranked["yes"] in ranked["no"]:  # 不是 holds 是: the negation is the answer
            return False
        return ("yes" in ranked) if len(ranked) == 1 else None

    def _choose(self, node: AskNode, chosen: IntentChosen) -> list[FlowCommand]:
        self.variables[node.into] = chosen.intent
        return [StopListening(), Journal(chosen), *self._enter(node.intents[chosen.intent].next)]

    def _miss(self, node: AskNode | CollectNode, why: NoMatch | NoInput) -> list[FlowCommand]:
        """A no-input or no-match: escalate the reprompt, or go to the fallback after max_attempts.
        `why` holds what was wrong; the event journaled adds the node and the attempt before it."""
        self._attempts += 1
        missed = type(why)(node=self.node_name, attempt=self._attempts, **why.model_dump(exclude_unset=True))
        commands: list[FlowCommand] = [Journal(missed)]
        if self._attempts >= node.reprompts.max_attempts:
            return commands + [StopListening(), Journal(FellBack(node=self.node_name, after=self._attempts)), *self._enter(node.fallback)]
        reprompts = node.reprompts.no_input if isinstance(why, NoInput) else node.reprompts.no_match
        chosen = [reprompts[min(self._attempts, len(reprompts)) - 1]] if reprompts else []
        return commands + self._ask(node, [*chosen, node.prompt])

    # -- global handlers -----------------------------------------------------------------------

    def _global_phrases(self, node: AskNode | CollectNode) -> dict[str, tuple[str, ...]]:
        if not node.globals:
            return {}
        handlers = {"agent": self._flow.globals.agent, "repeat": self._flow.globals.repeat, "help": self._flow.globals.help}
        return {name: tuple(handler.phrases) for name, handler in handlers.items() if handler is not None}

    def _global_for_key(self, node: AskNode | CollectNode, digit: str) -> str | None:
        if not node.globals:
            return None
        for name in ("agent", "repeat", "help"):
            handler = getattr(self._flow.globals, name)
            if handler is not None and digit in handler.keys:
                return name
        return None

    def _global(self, node: AskNode | CollectNode, name: str) -> list[FlowCommand]:
        if name == "agent" and self._flow.globals.agent is not None:
            return self._transfer(self._flow.globals.agent.queue, (), 5, "caller asked for an agent")
        if name == "help" and self._flow.globals.help is not None:
            return [Journal(HelpAsked(node=self.node_name)), *self._ask(node, [self._flow.globals.help.prompt, node.prompt])]
        return [Journal(RepeatAsked(node=self.node_name)), *self._ask(node, [node.prompt])]

    # -- lookup --------------------------------------------------------------------------------

    def _start_lookup(self, node: LookupNode) -> list[FlowCommand]:
        request_id = self._next_id("lookup")
        self._wait = _Waiting(phase="lookup", request_id=request_id)
        params = {key: self._render(value) for key, value in node.params.items()}
        commands: list[FlowCommand] = [Lookup(request_id, node.endpoint, node.method, params, node.timeout_s), self._arm("lookup_timeout", node.timeout_s)]
        if node.hold_prompt is not None:
            commands.append(self._arm("hold", node.hold_after_s))
        return commands

    def _lookup_answered(self, node: Node | None, fact: LookupAnswered) -> list[FlowCommand]:
        if not isinstance(node, LookupNode) or fact.request_id != self._wait.request_id:
            return []  # a late answer to a lookup the flow already gave up on
        commands: list[FlowCommand] = [*self._cancel_timers(), *self._stop_prompts()]
        if fact.error is not None or fact.data is None:
            return commands + [Journal(LookedUp(endpoint=node.endpoint, into=node.into, ok=False, error=fact.error or "")), *self._enter(node.on_failure)]
        self.variables[node.into] = dict(fact.data)
        return commands + [Journal(LookedUp(endpoint=node.endpoint, into=node.into, ok=True, result=dict(fact.data))), *self._enter(node.next)]

    # -- steps ---------------------------------------------------------------------------------

    def _steps(self, node: StepsNode) -> tuple[Step, ...]:
        return tuple(node.steps) if node.steps else self._set.procedures.get(node.procedure or "", ())

    def _play_step(self, node: StepsNode, index: int) -> list[FlowCommand]:
        steps = self._steps(node)
        if index >= len(steps):
            return [Journal(StepsUnsolved(procedure=node.procedure or self.node_name)), *self._enter(node.unsolved)]
        self._wait.step, self._wait.phase = index, "step_prompt"
        return [self._checkpoint(), *self._play_prompts([steps[index].prompt], barge_in=False)]

    def _step_prompt_done(self, node: StepsNode) -> list[FlowCommand]:
        if self._wait.phase == "step_prompt":
            self._wait.phase = "step_question"
            step = self._steps(node)[self._wait.step]
            agent = tuple(self._flow.globals.agent.phrases) if self._flow.globals.agent else ()
            listen = Listen((*YES_WORDS[self._flow.language], *NO_WORDS[self._flow.language], *agent), self._flow.language, 0.6, 10.0)
            return [*self._play_prompts([step.question], barge_in=True), listen]
        return [self._arm("no_input", self._flow.timing.no_input_s)]

    def _step_agent(self, node: StepsNode, asked: bool) -> list[FlowCommand]:
        """Mid-procedure, the agent's key or words go where the steps' failure goes (`unsolved`: the
        queue that knows the problem, not the general line), with the steps done so far; [] if not asked."""
        return [*self._stop_prompts(), *self._cancel("no_input"), Journal(HelpAsked(node=self.node_name)), *self._enter(node.unsolved)] if asked else []

    def _step_answer(self, node: StepsNode, fixed: bool | None, miss: type[NoMatch | NoInput] = NoMatch) -> list[FlowCommand]:
        commands: list[FlowCommand] = [*self._stop_prompts(), *self._cancel("no_input")]
        step = self._steps(node)[self._wait.step]
        if fixed is None:
            return commands + [Journal(miss(node=self.node_name, step=step.id)), *self._play_prompts([step.question], barge_in=True)]
        done = Journal(StepDone(procedure=node.procedure or self.node_name, step=step.id, index=self._wait.step + 1, fixed=fixed))
        if fixed:
            return commands + [StopListening(), done, *self._enter(node.solved)]
        return commands + [StopListening(), done, *self._play_step(node, self._wait.step + 1)]

    # -- timers --------------------------------------------------------------------------------

    def _timer_fired(self, timer_id: str) -> list[FlowCommand]:
        kind = next((name for name, armed in self._timers.items() if armed == timer_id), None)
        if kind is None:
            return []  # cancelled or re-armed since: stale
        del self._timers[kind]
        node = self._node()
        if kind == "no_input" and isinstance(node, (AskNode, CollectNode)):
            if isinstance(node, CollectNode) and node.digits and self._wait.digits:
                return self._digits_done(node)
            return self._miss(node, NoInput())
        if kind == "no_input" and isinstance(node, StepsNode):
            return self._step_answer(node, None, NoInput)
        if kind == "inter_digit" and isinstance(node, CollectNode):
            return self._digits_done(node)
        if kind == "hold" and isinstance(node, LookupNode) and node.hold_prompt is not None:
            return self._play_prompts([node.hold_prompt], barge_in=False)
        if kind == "lookup_timeout" and isinstance(node, LookupNode):
            return [*self._cancel_timers(), *self._stop_prompts(), Journal(LookedUp(endpoint=node.endpoint, ok=False, error=f"no answer within {node.timeout_s:g} s")), *self._enter(node.on_failure)]
        return []

    def _arm(self, kind: str, seconds: float) -> StartTimer:
        timer_id = self._next_id(kind)
        self._timers[kind] = timer_id
        return StartTimer(timer_id, seconds)

    def _cancel(self, kind: str) -> list[FlowCommand]:
        timer_id = self._timers.pop(kind, None)
        return [CancelTimer(timer_id)] if timer_id else []

    def _cancel_timers(self) -> list[FlowCommand]:
        return [command for kind in list(self._timers) for command in self._cancel(kind)]

    def _timing(self, node: AskNode | CollectNode) -> Timing:
        overrides = {key: value for key, value in node.timing.model_dump().items() if value is not None}
        return self._flow.timing.model_copy(update=overrides)

    # -- ends ----------------------------------------------------------------------------------

    def _transfer(self, queue: str, skills: tuple[str, ...], priority: int, reason: str) -> list[FlowCommand]:
        context = {name: self._shown(name) for name in self.variables}
        transfer = Transfer(queue, skills, priority, context)
        return self._finish(Journal(TransferAsked(queue=queue, skills=skills, priority=priority, reason=reason)), transfer)

    def _give_up(self, reason: str) -> list[FlowCommand]:
        agent = self._flow.globals.agent
        if agent is not None:
            return [Journal(FlowFailed(reason=reason)), *self._transfer(agent.queue, (), 5, reason)]
        return self._finish(Journal(FlowFailed(reason=reason)), HangUp(reason))

    def _finish(self, *commands: FlowCommand) -> list[FlowCommand]:
        self.finished = True
        return [*self._cancel_timers(), StopListening(), *commands]

    # -- values --------------------------------------------------------------------------------

    def _checkpoint(self) -> Journal:
        """Where the call is and what it knows: a new engine that adopts the call goes on from here."""
        variables = {name: value for name, value in self.variables.items() if name not in self._sensitive}
        if isinstance(self._node(), StepsNode):
            return Journal(CheckpointSaved(flow=self._flow.flow, node=self.node_name, variables=variables, step=self._wait.step))
        return Journal(CheckpointSaved(flow=self._flow.flow, node=self.node_name, variables=variables))

    def _next_id(self, kind: str) -> str:
        self._sequence += 1
        return f"{kind}-{self._sequence}"

    def _shown(self, name: str) -> Any:
        return MASK if name in self._sensitive else self.variables.get(name)

    def _render(self, template: str) -> str:
        """{name} and {name.field} from the variables; unknown or sensitive values render empty."""
        out: list[str] = []
        for literal, field_name, _, _ in string.Formatter().parse(template):
            out.append(literal)
            if field_name:
                out.append(str(self._lookup_value(field_name) or ""))
        return "".join(out)

    def _lookup_value(self, dotted: str) -> Any:
        root, *rest = dotted.split(".")
        if root in self._sensitive:
            return None
        value: Any = self.variables.get(root)
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


def _score(score: IntentScore) -> dict[str, Any]:
    return {"intent": score.intent, "confidence": score.confidence, "phrase": score.phrase}
