"""One chat while it lives on this engine: the thin adapter between the pure ChatConversation, the
page's websocket, the leg's journey, the CRM lookups and the hand-off to the phone.

Every turn runs under the chat's one lock, in order (one chat, one owner): a customer's message, a
lookup's answer, a timer, a hand-off choice. The journey is written through the leg's own
JourneyWriter, never awaited on the customer's path. Pages attach and detach (a reload, a dropped
connection, a second tab): each attached page gets every turn; the chat itself lives on until it
ends or the service finds it idle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from engine.call.flow_services import FlowRuntime, answer_lookup
from engine.chat.chat_conversation import ChatConversation, ChatInput, ChatTurn
from engine.chat.chat_limits import Bucket, ChatBounds, ChatTimes
from engine.chat.chat_transcript import last_checkpoint, transcript
from engine.flows.flow_facts import CancelTimer, HangUp, Lookup, StartTimer, TimerFired, Transfer
from engine.flows.interpreter import MASK
from engine.handoff import handoff_port as port
from engine.journey.channel_events import HandoffOffered
from engine.journey.events import JourneyEventModel, to_stored
from engine.journey.journey_writer import JourneyWriter
from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
MAX_HANDOFFS = 3
"""Hand-offs one chat may be given (a callback, or codes: a new one when the last expired)."""
Send = Callable[[dict[str, Any]], Awaitable[None]]


def page_error(code: str) -> dict[str, str]:
    """A chat refusal for the page, by code (chat.js words each in the reader's language)."""
    return {"type": "error", "code": code}


def shown_number(number: str) -> str:
    """A phone number with its middle digits hidden, as a chat shows it back."""
    digits = "".join(c for c in number if c.isdigit())
    return digits[:3] + "*" * max(0, len(digits) - 7) + digits[-4:] if len(digits) > 7 else MASK


class LiveChat:
    def __init__(self, channel_id: str, contact_id: int, conversation: ChatConversation, runtime: FlowRuntime, writer: JourneyWriter,
                 handoff: port.Handoff | None, bucket: Bucket, now: Callable[[], datetime], customer_number: str = "",
                 earlier: list[tuple[str, dict[str, Any]]] | None = None, bounds: ChatBounds = ChatBounds()) -> None:
        self.channel_id = channel_id
        self.contact_id = contact_id
        self.conversation = conversation
        self._runtime = runtime
        self._writer = writer
        self._handoff = handoff
        self.bucket = bucket
        self._now = now
        self._customer_number = customer_number
        self.journal: list[tuple[str, dict[str, Any]]] = list(earlier or [])
        """The leg's journey as written (sensitive values already ****): the transcript and the agent's pop come from it."""
        self._lock = asyncio.Lock()
        self._pages: set[Send] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks = TaskOwner(f"chat {channel_id}")
        self._tasks.spawn(f"journey-{channel_id}", writer.run())
        self.handoff_shown: dict[str, Any] | None = None
        """The hand-off as the page shows it (a code lives only here, never in the journey)."""
        self._bounds = bounds
        self.opened = self.last_seen = self.last_message = time.monotonic()
        self.ever_attached = False
        self.sent = 0
        """Messages the customer has sent (typed or a button), bounded by `bounds.max_messages`."""
        self.customer_key = ""
        """The customer the chat was opened for (chat_identity.customer_key; "" anonymous)."""
        self.ended = False

    @property
    def pages(self) -> int:
        return len(self._pages)

    def attach(self, send: Send) -> dict[str, Any] | None:
        """A page opened (or reopened) this chat: what it shows first, from the leg's journey; None
        when the chat has as many pages as it may have."""
        if len(self._pages) >= self._bounds.max_pages:
            return None
        self._pages.add(send)
        self.ever_attached = True
        self.last_seen = time.monotonic()
        return {"type": "hello", "items": transcript(self.journal), **self._state(self.conversation.input)}

    def detach(self, send: Send) -> None:
        self._pages.discard(send)
        self.last_seen = time.monotonic()

    def times(self, now: float) -> ChatTimes:
        """For the sweep; a page still attached counts as looking now."""
        if self._pages:
            self.last_seen = now
        return ChatTimes(self.opened, self.last_seen, self.last_message, len(self._pages), self.ever_attached, self.ended)

    async def begin(self, checkpoint: Mapping[str, Any] | None) -> None:
        async with self._lock:
            turn = self.conversation.resume(checkpoint) if checkpoint is not None else self.conversation.start()
            await self._apply(turn)

    @property
    def runtime(self) -> FlowRuntime:
        return self._runtime

    async def go_on_with(self, runtime: FlowRuntime, conversation: ChatConversation) -> None:
        """The flows were reloaded since this chat began: it goes on from its last checkpoint with the
        new ones (one flow file, two channels: an edit reaches a chat in progress at its next visit)."""
        async with self._lock:
            checkpoint = last_checkpoint(self.journal)
            if self.ended or self.conversation.interpreter.finished or checkpoint is None:
                return
            self._cancel_timers()  # the old conversation's timers would fire into the new one
            self._runtime, self.conversation = runtime, conversation
            await self._apply(conversation.resume(checkpoint))

    async def typed(self, text: str) -> None:
        async with self._lock:
            if await self._counted():
                await self._apply(self.conversation.typed(text))

    async def pressed(self, index: int) -> None:
        async with self._lock:
            if await self._counted():
                await self._apply(self.conversation.pressed(index))

    async def _counted(self) -> bool:
        """One more message from the customer, if the chat still takes them (its transcript is bounded)."""
        self.last_seen = self.last_message = time.monotonic()
        if self.ended:
            return False  # ended by the sweep while a page was open: it shows the end already
        if self.sent >= self._bounds.max_messages:
            await self._tell(page_error("chat_full"))
            return False
        self.sent += 1
        return True

    def _handoff_limit(self, how: str) -> str | None:
        """One callback a chat, and MAX_HANDOFFS offers in all (a new code after one expired): a public
        chat must not book calls to a list of numbers. Counted from the leg's journey, so a reload or a
        restart does not reset it."""
        offered = [HandoffOffered.model_validate(detail) for kind, detail in self.journal if kind == HandoffOffered.KIND]
        if how == "callback" and any(offer.how == "callback" for offer in offered):
            return "already_arranged"
        return "too_many_handoffs" if len(offered) >= MAX_HANDOFFS else None

    async def call_me_back(self, number: str) -> None:
        async with self._lock:
            target, leg = self._target(), self._leg()
            if target is None or leg is None:
                await self._tell({"type": "handoff", "refused": "not_now"})
                return
            if (limit := self._handoff_limit("callback")) is not None:
                await self._tell({"type": "handoff", "refused": limit})
                return
            answer = await self._handoff.call_me_back(leg, number, target) if self._handoff is not None else port.HandoffRefused("no_handoff")
            if isinstance(answer, port.HandoffRefused):
                await self._tell({"type": "handoff", "refused": answer.reason, "detail": answer.detail})
                return
            self._write(HandoffOffered(how="callback", queue=answer.queue, number=answer.number))
            self.handoff_shown = {"how": "callback", "number": answer.number, "queue": answer.queue}
            await self._tell({"type": "handoff", **self.handoff_shown})

    async def i_will_call(self) -> None:
        async with self._lock:
            target, leg = self._target(), self._leg()
            if target is None or leg is None:
                await self._tell({"type": "handoff", "refused": "not_now"})
                return
            if (limit := self._handoff_limit("code")) is not None:
                await self._tell({"type": "handoff", "refused": limit})
                return
            answer = await self._handoff.i_will_call(leg, target) if self._handoff is not None else port.HandoffRefused("no_handoff")
            if isinstance(answer, port.HandoffRefused):
                await self._tell({"type": "handoff", "refused": answer.reason, "detail": answer.detail})
                return
            expires = answer.expires_at.isoformat()
            self._write(HandoffOffered(how="code", queue=target.queue, number=answer.dial, expires_at=expires))
            self.handoff_shown = {"how": "code", "code": answer.code, "dial": answer.dial, "expires_at": expires, "queue": target.queue}
            await self._tell({"type": "handoff", **self.handoff_shown})

    async def end(self, by: str, why: str | None = None) -> None:
        """The chat is over (its flow hung up, or nobody came back): the leg is closed and its tasks stop."""
        self._cancel_timers()
        if not self.ended:
            self.ended = True
            self._writer.close(self._now(), by, None, why)
            await self._tell({"type": "ended"})
        await self._tasks.aclose(timeout_s=5.0)  # the writer stores what is queued, then its close

    async def aclose(self) -> None:
        """The engine is stopping: the chat stays open for the next engine (the customer's token
        resumes it there); what is queued for the journey is stored first."""
        self._cancel_timers()
        if not self.ended:
            self._writer.finish()
        await self._tasks.aclose(timeout_s=5.0)

    async def later(self, items: list[dict[str, Any]]) -> None:
        """What the contact's later legs did (a call's steps, the agent's disposition), to the pages."""
        if items:
            await self._tell({"type": "later", "legs": items})

    # -- carrying a turn out ---------------------------------------------------------------------

    async def _apply(self, turn: ChatTurn) -> None:
        for event in turn.events:
            self._write(event)
        for effect in turn.effects:
            if isinstance(effect, Lookup):
                self._tasks.spawn(f"lookup-{self.channel_id}", self._lookup(effect))
            elif isinstance(effect, StartTimer):
                self._timers[effect.timer_id] = asyncio.get_running_loop().call_later(effect.seconds, self._fire, effect.timer_id)
            elif isinstance(effect, CancelTimer):
                handle = self._timers.pop(effect.timer_id, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(effect, Transfer):
                log.info("chat_event call_id=%s event=handoff_offer queue=%s", self.channel_id, effect.queue)
        items = transcript(to_stored(event) for event in turn.events)
        await self._tell({"type": "turn", "items": items, "notice": turn.notice, **self._state(turn.input)})
        if any(isinstance(effect, HangUp) for effect in turn.effects):
            self.ended = True
            self._writer.close(self._now(), "engine", None, None)
            await self._tell({"type": "ended"})

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def _write(self, event: JourneyEventModel) -> None:
        kind, detail = to_stored(event)
        self.journal.append((kind, detail))
        self._writer.add(kind, self._now(), detail)

    def _state(self, shown: ChatInput) -> dict[str, Any]:
        return {"input": asdict(shown), "handoff": self.handoff_shown, "ended": self.ended, "language": self.conversation.language,
                "node": self.conversation.node_name}

    async def _tell(self, message: dict[str, Any]) -> None:
        for send in list(self._pages):
            try:
                async with asyncio.timeout(5.0):
                    await send(message)
            except (ConnectionError, TimeoutError, RuntimeError):
                self._pages.discard(send)  # that page is gone; the chat goes on for the others

    async def _lookup(self, command: Lookup) -> None:
        answer = await answer_lookup(self._runtime, command)
        async with self._lock:
            if not self.ended:
                await self._apply(self.conversation.fact(answer))

    def _fire(self, timer_id: str) -> None:
        if self._timers.pop(timer_id, None) is not None and not self._tasks.closed:
            self._tasks.spawn(f"timer-{self.channel_id}", self._timer(timer_id))

    async def _timer(self, timer_id: str) -> None:
        async with self._lock:
            if not self.ended:
                await self._apply(self.conversation.fact(TimerFired(timer_id)))

    def _target(self) -> port.HandoffTarget | None:
        transfer = self.conversation.transfer
        if transfer is None or self.ended:
            return None
        return port.HandoffTarget(transfer.queue, transfer.skills, transfer.priority, transfer.context)

    def _leg(self) -> port.ChatLeg | None:
        variables = dict(self.conversation.transfer.context) if self.conversation.transfer is not None else {}
        return port.ChatLeg(self.channel_id, self.contact_id, self.conversation.language, variables, tuple(self.journal), self._customer_number)
