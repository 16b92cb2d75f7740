"""A call that goes on from a web chat: the hand-off code keyed or said in the greeting, or (with
[handoff] continue_by_number) a call whose caller ID is the chat's signed number. The thin adapter around the pure CodeEntry (engine/handoff/
handoff_codes.py): it runs inside the call's session (the claim is a step of that session, the one
owner of the caller's channel) and acts through its host, the flow driver.

The greeting never waits for the database: the start check runs beside it as an owned task and
posts HandoffChecked into the call's inbox; only the session acts on the channel, and after every
wait it checks the call is still its own.

Never the code in the journey: a refusal records its reason only, and words that were a code are
journaled masked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.acd.callback_numbers import is_plain_number, is_withheld
from engine.handoff.handoff_codes import (
    DIGIT_WORDS, ArmTimer, CancelTimer, Claim, CodeEntry, EntryCommand, EntryState, PassKey, Refuse, ReleaseFlow, code_spoken, refused_prompt,
)
from engine.handoff.handoff_port import ChatHandedOver, CodeClaims
from engine.journey.channel_events import HandoffRefused
from engine.journey.events import JourneyEventModel
from engine.store.contact_store import ClaimedCode

log = logging.getLogger(__name__)
CODE_TIMER = "handoff-code"
CLAIM_TIMEOUT_S = 5.0
"""A claim is one transaction (tried again for a moment while the call's own row is not written yet)."""
CONTINUE_TIMEOUT_S = 10.0
"""After a claim committed: the chat leg's journal read back."""
RELEASE_TIMEOUT_S = 3.0
START_CHECK_TIMEOUT_S = 2.0
"""At the start of every call, beside the greeting (which never waits for it): a chat for its number, whether any code waits."""
SPOKEN_CODE_END_OF_SPEECH_S, SPOKEN_CODE_MAX_SPEECH_S = 0.8, 8.0


@dataclass(frozen=True)
class HandoffChecked:
    """Into the call's inbox: what the start check found (it ran beside the greeting)."""

    handed: ChatHandedOver | None
    """A chat this call's number took over (claimed, [handoff] continue_by_number)."""
    waiting: bool
    """Some chat's code waits for a call: the greeting listens for a spoken one."""


class CodeHost(Protocol):
    """What code taking needs from the flow driver."""

    @property
    def language(self) -> str: ...

    @property
    def live(self) -> bool:
        """The call is still this session's to act on (not ended, not being handed to another engine)."""

    def write(self, event: JourneyEventModel) -> None: ...

    async def announce(self, text: str) -> bool: ...

    def start_timer(self, timer_id: str, seconds: float) -> None: ...

    def cancel_timer(self, timer_id: str) -> None: ...

    def listen_for_code(self, phrases: Sequence[str]) -> None: ...

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Database work of the call that nobody waits for (an owned task)."""

    async def release_flow(self) -> None: ...

    async def take_over(self, handed: ChatHandedOver) -> None: ...


class CodeTaking:
    def __init__(self, claims: CodeClaims | None, channel_id: str, host: CodeHost) -> None:
        self._claims = claims
        self._channel_id = channel_id
        self._host = host
        settings = claims.settings if claims is not None else None
        self.entry = CodeEntry(settings.key_timeout_s if settings else 4.0, settings.max_code_tries if settings else 0, open_=claims is not None)
        self.took = False
        """This call took a chat over: released if it ends before it reached the chat's queue."""
        self._checked = self._waiting = False
        """Whether the start check has answered, and found a live code somewhere. Keys before it answers
        are held in case they are a code's; once it found none, the greeting's keys are ignored as they
        always were (a caller keying a menu choice early is never held)."""

    @property
    def holding(self) -> bool:
        """The flow's facts wait (a code is being keyed, checked or may be keyed again)."""
        return self.entry.holding

    @property
    def takes_keys(self) -> bool:
        """A key now would be a code's: the journey must not keep it."""
        return self._claims is not None and self.entry.state is not EntryState.CLOSED and (not self._checked or self._waiting or self.entry.state is not EntryState.OPEN)

    @property
    def listening(self) -> bool:
        return self._claims is not None and self.entry.listening

    @property
    def checks_at_start(self) -> bool:
        settings = self._claims.settings if self._claims is not None else None
        return settings is not None and self.entry.state is EntryState.OPEN

    def flow_asks(self) -> None:
        self.entry.flow_asks()

    async def check_at_start(self, caller_number: str) -> HandoffChecked:
        """Run beside the greeting (an owned task; its answer goes to the call's inbox): a chat this
        number takes over ([handoff] continue_by_number), and whether any code waits."""
        claims = self._claims
        if claims is None:
            return HandoffChecked(None, False)
        by_number = claims.settings.continue_by_number and is_plain_number(caller_number) and not is_withheld(caller_number)
        try:
            async with asyncio.timeout(START_CHECK_TIMEOUT_S):
                claimed = await claims.claim_by_number(caller_number, self._channel_id) if by_number else None
                waiting = claimed is None and await claims.codes_waiting()
        except Exception as exc:  # the database is slow or down: the call runs its flow; keyed codes are still tried
            log.warning("call %s: waiting hand-offs not read: %s", self._channel_id, exc or type(exc).__name__)
            if by_number:
                await self._release()  # the claim may have committed as the time ran out
            return HandoffChecked(None, False)
        if claimed is None:
            return HandoffChecked(None, bool(waiting))
        handed = await self._continue(claimed, "number")
        return HandoffChecked(handed, False)

    async def checked(self, fact: HandoffChecked) -> None:
        """In the session: the start check's answer. A chat is taken over only while the greeting's
        window is still open (the caller is not keying a code, the flow has not asked anything)."""
        self._checked, self._waiting = True, fact.waiting or fact.handed is not None
        if fact.handed is not None:
            if self.entry.state is EntryState.OPEN and self._host.live:
                self.took = True
                self.entry.claimed()
                await self._host.take_over(fact.handed)
            else:
                self._host.spawn(f"handoff-release-{self._channel_id}", self._release())
            return
        if not fact.waiting:
            await self._run(self.entry.no_codes_live())
        settings = self._claims.settings if self._claims is not None else None
        if fact.waiting and self.entry.state is EntryState.OPEN and settings is not None and settings.spoken_codes:
            language = self._host.language[:2]
            self._host.listen_for_code(tuple(dict.fromkeys((*DIGIT_WORDS.get(language, {}), *DIGIT_WORDS["en"]))))

    async def key(self, digit: str) -> bool:
        """True if the key was the code's (the flow never sees it)."""
        if self._checked and not self._waiting and self.entry.state is EntryState.OPEN:
            return False  # no code is live anywhere: the key is the flow's, as before hand-offs existed
        commands = self.entry.key(digit)
        await self._run(commands)
        return not any(isinstance(command, PassKey) for command in commands)

    def is_code(self, alternatives: Sequence[str], confidence: float = 1.0) -> bool:
        """Words that are a code now (said surely enough): journaled masked."""
        settings = self._claims.settings if self._claims is not None else None
        return self.listening and settings is not None and confidence >= settings.spoken_min_confidence \
            and code_spoken(alternatives, self._host.language) is not None

    async def heard(self, alternatives: Sequence[str], confidence: float = 1.0) -> bool:
        """True if the words were a code (the flow never hears them)."""
        if not self.is_code(alternatives, confidence):
            return False
        commands = self.entry.heard(alternatives, self._host.language)
        await self._run(commands)
        return bool(commands)

    async def timer_fired(self) -> None:
        await self._run(self.entry.timed_out())

    async def end(self, reached_queue: bool) -> None:
        """The call ended: a chat it took over but never brought into the chat's queue (the queue was
        gone, the caller hung up during the take-over) waits for the customer's next call. Once in the
        queue, the hand-off happened: a caller who gives up waiting is an abandoned call, and the chat
        gives a new code."""
        if self.took and not reached_queue:
            self.took = False
            await self._release()

    async def _run(self, commands: Sequence[EntryCommand]) -> None:
        for command in commands:
            if isinstance(command, ArmTimer):
                self._host.start_timer(CODE_TIMER, command.seconds)
            elif isinstance(command, CancelTimer):
                self._host.cancel_timer(CODE_TIMER)
            elif isinstance(command, ReleaseFlow):
                await self._host.release_flow()
            elif isinstance(command, Refuse):
                self._host.write(HandoffRefused(reason=command.reason))
                if command.say:
                    await self._host.announce(refused_prompt(self._host.language))
            elif isinstance(command, Claim):
                await self._claim(command)

    async def _claim(self, command: Claim) -> None:
        assert self._claims is not None
        try:
            async with asyncio.timeout(CLAIM_TIMEOUT_S):
                taken = await self._claims.claim(command.code, self._channel_id, command.how)
        except Exception as exc:  # the database is slow or down: refused for now, the caller may try again
            log.warning("call %s: hand-off code not checked: %s", self._channel_id, exc or type(exc).__name__)
            self._host.spawn(f"handoff-release-{self._channel_id}", self._release())  # it may have committed as the time ran out
            taken = "unavailable"
        handed = await self._continue(taken, command.how) if not isinstance(taken, str) else None
        if handed is not None and not self._host.live:  # the caller hung up meanwhile
            self._host.spawn(f"handoff-release-{self._channel_id}", self._release())
            return
        if handed is None:
            await self._run(self.entry.refused(taken if isinstance(taken, str) else "unavailable"))
            return
        self.took = True
        await self._run(self.entry.claimed())
        await self._host.take_over(handed)

    async def _continue(self, claimed: ClaimedCode, how: str) -> ChatHandedOver | None:
        """After a committed claim (outside its short timeout): the chat read back; released if that fails."""
        assert self._claims is not None
        try:
            async with asyncio.timeout(CONTINUE_TIMEOUT_S):
                return await self._claims.continue_chat(claimed, self._channel_id, how)
        except Exception as exc:
            log.warning("call %s: the chat %s was claimed but not read back: %s", self._channel_id, claimed.from_leg, exc or type(exc).__name__)
            await self._release()
            return None

    async def _release(self) -> None:
        if self._claims is None:
            return
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT_S):
                await self._claims.release(self._channel_id)
        except Exception as exc:  # the code stays used: the customer asks the chat for a new one
            log.warning("call %s: its hand-off claim not released: %s", self._channel_id, exc or type(exc).__name__)
