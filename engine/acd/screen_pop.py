"""The screen-pop: everything the IVR learned, for the agent, before they say hello. Pure.

Built from the call's own journal (what the flow recorded, sensitive values already masked) and
the call's variables, so the agent sees exactly what the caller said and did: identity, customer
record, intent, each recognised utterance with its confidence, collected fields, the
troubleshooting steps already done and the next one to try (with the same text the IVR read).
The same events also come as one `timeline`, in the order they happened, so the page can tell the
caller's journey as a story (said, typed, chose, keyed, step done) instead of separate lists. A call
that goes on from a web chat has the chat's journal first: what was typed, and the chat's steps
done, count as the call's own (the next step is the first the chat did not finish).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.config.flow_model import Step
from engine.journey.channel_events import ChatSent, ContinuedFrom, Typed
from engine.journey.events import Collected, IntentChosen, NodeEntered, SpeechHeard, StepDone, from_stored

POP_VERSION = 1
CALLER_ID_VERIFIED = False
"""A caller ID is what the caller's SIP From header (or its carrier) says: anyone can send any
number, and Threadline checks no attestation. The pop says so, and the customer record and previous
calls matched on it are hints for the agent to confirm, never proof of who is calling."""


def build_pop(
    call_id: str,
    queue: str,
    caller_number: str,
    caller_name: str,
    variables: Mapping[str, Any],
    journal: Sequence[tuple[str, Mapping[str, Any]]],
    procedures: Mapping[str, Sequence[Step]],
    waited_s: float,
    previous_calls: Sequence[Mapping[str, Any]] = (),
    callback: bool = False,
) -> dict[str, Any]:
    """The pop's JSON. `journal` is the call's (kind, detail) journey so far, as written; each row is
    decoded by the journey's codec (engine/journey/events.py)."""
    path: list[dict[str, Any]] = []
    utterances: list[dict[str, Any]] = []
    collected: dict[str, Any] = {}
    done: dict[str, list[dict[str, Any]]] = {}
    timeline: list[dict[str, Any]] = []
    intent = None
    continued: dict[str, str] | None = None
    in_chat = False
    """Whether the events read so far are a chat's (typed, chat_sent), until a leg continues it: a choice there was typed, not spoken."""
    for kind, detail in journal:
        event = from_stored(kind, detail)
        if isinstance(event, NodeEntered):
            path.append({"node": event.node, "type": event.type})
            timeline.append({"kind": "node", "node": event.node, "type": event.type})
        elif isinstance(event, SpeechHeard):
            utterances.append({"text": event.text, "confidence": event.confidence})
            timeline.append({"kind": "said", "text": event.text, "confidence": event.confidence})
        elif isinstance(event, (Typed, ChatSent)):
            in_chat = True
            if isinstance(event, ChatSent):
                continue
            timeline.append({"kind": "typed", "text": event.text, "button": event.button})
        elif isinstance(event, ContinuedFrom):
            in_chat = False
            continued = {"leg": event.leg, "channel": event.channel, "how": event.how}
            timeline.append({"kind": "continued", **continued})
        elif isinstance(event, IntentChosen):
            intent = event.intent
            how = f"key {event.key}" if event.key else f"{'typed' if in_chat else 'speech'} ({event.band or 'accept'})"
            path.append({"chose": intent, "how": how})
            timeline.append({"kind": "chose", "intent": intent, "key": event.key, "confirmed": event.confirmed,
                             **({"typed": True} if in_chat and not event.key else {})})
        elif isinstance(event, Collected):
            collected[event.into] = event.value
            timeline.append({"kind": "collected", "field": event.into, "value": event.value, "keyed": event.length > 0})
        elif isinstance(event, StepDone):
            done.setdefault(event.procedure, []).append({"step": event.step, "fixed": event.fixed})
            text = _text(procedures.get(event.procedure, ()), event.step)
            timeline.append({"kind": "step", "procedure": event.procedure, "step": event.step, "text": text, "fixed": event.fixed})
    steps = []
    for procedure, finished in done.items():
        all_steps = list(procedures.get(procedure, ()))
        finished_ids = [entry["step"] for entry in finished]
        following = next((step for step in all_steps if step.id not in finished_ids), None)
        steps.append(
            {
                "procedure": procedure,
                "done": [{"step": entry["step"], "text": _text(all_steps, entry["step"]), "fixed": entry["fixed"]} for entry in finished],
                "next": {"step": following.id, "text": _prompt(following)} if following else None,
            }
        )
    customer = variables.get("customer")
    return {
        "v": POP_VERSION,
        "type": "pop",
        "call_id": call_id,
        "queue": queue,
        "caller": {"number": caller_number, "name": caller_name or (customer.get("name") if isinstance(customer, Mapping) else "") or "", "verified": CALLER_ID_VERIFIED},
        "customer": dict(customer) if isinstance(customer, Mapping) else None,
        "intent": intent or variables.get("intent"),
        "path": path,
        "utterances": utterances,
        "collected": collected,
        "steps": steps,
        "timeline": timeline,
        "previous_calls": list(previous_calls),
        "waited_s": round(waited_s, 1),
        "callback": callback,
        "continued_from": continued,
    }


def _text(steps: Sequence[Step], step_id: object) -> str:
    step = next((s for s in steps if s.id == step_id), None)
    return _prompt(step) if step else ""


def _prompt(step: Step | None) -> str:
    if step is None:
        return ""
    return step.prompt if isinstance(step.prompt, str) else f"(recording {step.prompt.file})"
