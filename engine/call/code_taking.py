"""A call that goes on from a web chat: the hand-off code keyed or said in the greeting, or the
chat's verified number calling. The thin adapter around the pure CodeEntry (engine/handoff/
handoff_codes.py): it runs inside the call's session (the claim is a step of that session, the one
owner of the caller's channel) and acts through its host, the flow driver.

Never the code in the journey: a refusal records its reason only, and words that were a code are
journaled masked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from engine.acd.callback_numbers import is_plain_number, is_withheld
from engine.handoff.handoff_codes import (
    DIGIT_WORDS, ArmTimer, CancelTimer, Claim, CodeEntry, EntryCommand, EntryState, PassKey, Refuse, ReleaseFlow, code_spoken, refused_prompt,
)
from engine.handoff.handoff_port import ChatHandedOver, CodeClaims
from engine.journey.channel_events import HandoffRefused
from engine.journey.events import JourneyEventModel

log = logging.getLogger(__name__)
CODE_TIMER = "handoff-code"
CLAIM_TIMEOUT_S = 5.0
"""A claim is a few database statements (and a short wait for the call's own row)."""
NUMBER_CHECK_TIMEOUT_S = 1.0
"""At the start of every call: whether its number or any code waits; the greeting is not held up longer."""
SPOKEN_CODE_END_OF_SPEECH_S, SPOKEN_CODE_MAX_SPEECH_S = 0.8, 8.0


class CodeHost(Protocol):
    """What code taking needs from the flow driver."""

    @property
    def language(self) -> str: ...

    def write(self, event: JourneyEventModel) -> None: ...

    async def announce(self, text: str) -> bool: ...

    def start_timer(self, timer_id: str, seconds: float) -> None: ...

    def cancel_timer(self, timer_id: str) -> None: ...

    def listen_for_code(self, phrases: Sequence[str]) -> None: ...

    async def release_flow(self) -> None: ...

    async def take_over(self, handed: ChatHandedOver) -> None: ...


class CodeTaking:
    def __init__(self, claims: CodeClaims | None, channel_id: str, host: CodeHost) -> None:
        self._claims = claims
        self._channel_id = channel_id
        self._host = host
        settings = claims.settings if claims is not None else None
        self.entry = CodeEntry(settings.key_timeout_s if settings else 4.0, settings.max_code_tries if settings else 0, open_=claims is not None)

    @property
    def holding(self) -> bool:
        """The flow's facts wait (a code is being keyed, checked or may be keyed again)."""
        return self.entry.holding

    @property
    def takes_keys(self) -> bool:
        """A key now would be a code's: the journey must not keep it."""
        return self._claims is not None and self.entry.state is not EntryState.CLOSED

    @property
    def listening(self) -> bool:
        return self._claims is not None and self.entry.listening

    def flow_asks(self) -> None:
        self.entry.flow_asks()

    async def at_start(self, caller_number: str) -> bool:
        """Before the flow starts: a call from a chat's verified number takes that chat over (True).
        Otherwise, if any code waits, the greeting listens for a spoken one."""
        claims = self._claims
        if claims is None:
            return False
        try:
            async with asyncio.timeout(NUMBER_CHECK_TIMEOUT_S):
                handed = await claims.claim_by_number(caller_number, self._channel_id) \
                    if is_plain_number(caller_number) and not is_withheld(caller_number) else None
                waiting = handed is None and claims.settings.spoken_codes and await claims.codes_waiting()
        except Exception as exc:  # the database is slow or down: the call runs its flow; keyed codes are still tried
            log.warning("call %s: waiting hand-offs not read: %s", self._channel_id, exc or type(exc).__name__)
            return False
        if handed is not None:
            self.entry.claimed()
            await self._host.take_over(handed)
            return True
        if waiting:
            language = self._host.language[:2]
            self._host.listen_for_code(tuple(dict.fromkeys((*DIGIT_WORDS.get(language, {}), *DIGIT_WORDS["en"]))))
        return False

    async def key(self, digit: str) -> bool:
        """True if the key was the code's (the flow never sees it)."""
        commands = self.entry.key(digit)
        await self._run(commands)
        return not any(isinstance(command, PassKey) for command in commands)

    def is_code(self, alternatives: Sequence[str]) -> bool:
        """Words that are a code now: journaled masked."""
        return self.listening and code_spoken(alternatives, self._host.language) is not None

    async def heard(self, alternatives: Sequence[str]) -> bool:
        """True if the words were a code (the flow never hears them)."""
        commands = self.entry.heard(alternatives, self._host.language)
        await self._run(commands)
        return bool(commands)

    async def timer_fired(self) -> None:
        await self._run(self.entry.timed_out())

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
            taken = "unavailable"
        if isinstance(taken, str):
            await self._run(self.entry.refused(taken))
            return
        await self._run(self.entry.claimed())
        await self._host.take_over(taken)
