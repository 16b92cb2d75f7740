"""Hand-off codes on the phone: making one, reading one from keys or words, and when a call takes
one. Pure: no I/O, no clock, no randomness of its own (it is given).

A chat that says "call us and key this code" gives a 6-digit code. The caller keys (or says) it in
the flow's opening, the greeting, before the flow first asks anything. Why there:

- the opening takes no keys today (a `say`, `lookup`, `set`, `branch` or `goto` node ignores DTMF),
  so a code keyed there can never be a menu choice, and no caller loses a key they used before;
- a bare 6-digit code would collide with a menu's keys (1, 2, 3, 0 for the agent, * to repeat) and
  with a `collect` of a 6-digit account number, which the sample flows ask right after the greeting.

So the window is open until the flow first waits for an answer. The first key in the window starts
a code (a leading `*` is allowed and ignored), and from then on the flow is held (its facts wait) so
the next keys cannot reach a menu that starts meanwhile; the code ends at 6 digits, at `#`, or after
`key_timeout_s` without a key. A refused code is said so, and the flow stays held for another
`key_timeout_s` so the caller may key it again; after `max_tries` refusals codes are no longer taken
on that call. A handful of keys (fewer than half a code) is a caller pressing keys in the greeting,
as callers always did: it is dropped, not refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

CODE_LENGTH = 6
CODE_SPACE = 10**CODE_LENGTH
REFUSED_PROMPTS = {
    "ko": "입력하신 코드가 올바르지 않거나 만료되었습니다.",
    "zh": "您输入的代码无效或已过期。",
    "en": "That code is not valid or has expired.",
}
"""Said after a refused code, in the flow's language (never which of the reasons it was)."""


def code_from(randomness: int) -> str:
    """A code from a number drawn in [0, CODE_SPACE) (secrets.randbelow(CODE_SPACE))."""
    if not 0 <= randomness < CODE_SPACE:
        raise ValueError(f"randomness: 0 <= n < {CODE_SPACE} (got {randomness})")
    return f"{randomness:0{CODE_LENGTH}d}"


def refused_prompt(language: str) -> str:
    return REFUSED_PROMPTS.get(language[:2], REFUSED_PROMPTS["en"])


# -- spoken codes ---------------------------------------------------------------------------------

DIGIT_WORDS: Mapping[str, Mapping[str, str]] = {
    "ko": {"공": "0", "영": "0", "빵": "0", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5", "육": "6", "륙": "6", "칠": "7", "팔": "8", "구": "9",
           "하나": "1", "둘": "2", "셋": "3", "넷": "4", "다섯": "5", "여섯": "6", "일곱": "7", "여덟": "8", "아홉": "9"},
    "zh": {"零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8",
           "九": "9"},
    "en": {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
           "nine": "9"},
}
"""Digit words a caller says a code with, by language (sino-Korean and native Korean numbers)."""
FILLER_WORDS: Mapping[str, frozenset[str]] = {
    "ko": frozenset({"음", "어", "으", "그", "저", "아", "코드", "코드는", "번호", "번호는", "이에요", "예요", "입니다", "이요"}),
    "zh": frozenset({"嗯", "呃", "啊", "那个", "我的", "代码", "代码是", "是", "号码"}),
    "en": frozenset({"um", "uh", "er", "erm", "hmm", "the", "code", "is", "my", "it's", "its", "number"}),
}
"""Words a caller says around a code ("음 코드는 사 팔 이 ..."): skipped, never digits."""
_UNHEARD = ("[unk]", "<unk>")
"""What a recogniser writes for a word it did not know: skipped too."""
_SEPARATORS = frozenset(" \t,.-、，。")


def digits_spoken(text: str, language: str) -> str | None:
    """The digits a caller said ("사 팔 이 구 일 삼", "四八二九一三", "four eight two nine one three",
    "482913", mixed, with fillers and unknown words around them), or None if anything else was said.
    Words are matched longest first."""
    words = {**DIGIT_WORDS.get(language[:2], {}), **DIGIT_WORDS["en"]}
    fillers = FILLER_WORDS.get(language[:2], frozenset()) | FILLER_WORDS["en"]
    known = sorted({*words, *fillers}, key=len, reverse=True)
    text = text.strip().lower()
    for unheard in _UNHEARD:
        text = text.replace(unheard, " ")
    digits: list[str] = []
    at = 0
    while at < len(text):
        if text[at] in _SEPARATORS:
            at += 1
            continue
        if text[at].isascii() and text[at].isdigit():
            digits.append(text[at])
            at += 1
            continue
        match = next((word for word in known if text.startswith(word, at)), None)
        if match is None:
            return None
        if match.isascii() and at + len(match) < len(text) and text[at + len(match)].isalpha():
            return None  # an English word that only starts like a digit ("often", "one's")
        if match in words:
            digits.append(words[match])
        at += len(match)
    return "".join(digits) or None


def code_spoken(alternatives: Iterable[str], language: str) -> str | None:
    """The first recognition alternative that is exactly a code's digits, if any."""
    for text in alternatives:
        digits = digits_spoken(text, language)
        if digits is not None and len(digits) == CODE_LENGTH:
            return digits
    return None


# -- the entry, one call -------------------------------------------------------------------------

class EntryState(StrEnum):
    OPEN = "open"
    """The flow's opening: the first key starts a code."""
    KEYING = "keying"
    CHECKING = "checking"
    """The code is being claimed; keys meanwhile are dropped."""
    AGAIN = "again"
    """Refused: the caller may key another code for a moment, the flow still held."""
    CLOSED = "closed"
    """Keys are the flow's (the flow asked something, a code was taken, or too many tries)."""


@dataclass(frozen=True)
class HoldFlow:
    """The flow's facts wait from now on (a menu must not start under the caller's keys)."""


@dataclass(frozen=True)
class ReleaseFlow:
    """The flow goes on with what waited, in order."""


@dataclass(frozen=True)
class PassKey:
    digit: str
    """Not a code's key: the flow's."""


@dataclass(frozen=True)
class ArmTimer:
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    pass


@dataclass(frozen=True)
class Claim:
    code: str
    how: str
    """code (keyed) or spoken_code."""


@dataclass(frozen=True)
class Refuse:
    reason: str
    """What the journey records (unknown, expired, used, incomplete, too_many_tries): never the code."""
    say: bool = True


EntryCommand = HoldFlow | ReleaseFlow | PassKey | ArmTimer | CancelTimer | Claim | Refuse


class CodeEntry:
    """One call's code entry. The adapter feeds keys, words, the timer, the flow's first question and
    the claim's answer; it carries the commands out in order."""

    def __init__(self, key_timeout_s: float, max_tries: int, open_: bool = True) -> None:
        self.key_timeout_s = key_timeout_s
        self.max_tries = max_tries
        self.state = EntryState.OPEN if open_ and max_tries > 0 else EntryState.CLOSED
        self.digits = ""
        self.tries = 0

    @property
    def holding(self) -> bool:
        """The flow's facts wait."""
        return self.state in (EntryState.KEYING, EntryState.CHECKING, EntryState.AGAIN)

    @property
    def listening(self) -> bool:
        """Words may be a code now."""
        return self.state in (EntryState.OPEN, EntryState.AGAIN)

    def key(self, digit: str) -> list[EntryCommand]:
        if self.state is EntryState.CLOSED:
            return [PassKey(digit)]
        if self.state is EntryState.CHECKING:
            return []
        if self.state in (EntryState.OPEN, EntryState.AGAIN):
            if not (digit.isdigit() or digit == "*"):
                return [PassKey(digit)] if self.state is EntryState.OPEN else []
            first = [HoldFlow()] if self.state is EntryState.OPEN else []
            self.state, self.digits = EntryState.KEYING, ""
            return [*first, *self._keyed(digit)]
        return self._keyed(digit)

    def _keyed(self, digit: str) -> list[EntryCommand]:
        if digit == "*":
            self.digits = ""  # start over
            return [ArmTimer(self.key_timeout_s)]
        if digit == "#":
            return self._entered()
        self.digits += digit
        if len(self.digits) >= CODE_LENGTH:
            return [CancelTimer(), *self._entered()]
        return [ArmTimer(self.key_timeout_s)]

    def heard(self, alternatives: Iterable[str], language: str) -> list[EntryCommand]:
        """What the caller said while codes are listened for."""
        if not self.listening:
            return []
        code = code_spoken(alternatives, language)
        if code is None:
            return []
        first = [HoldFlow()] if self.state is EntryState.OPEN else [CancelTimer()]
        self.state, self.digits = EntryState.CHECKING, ""
        return [*first, Claim(code, "spoken_code")]

    def timed_out(self) -> list[EntryCommand]:
        if self.state is EntryState.KEYING:
            return self._entered()
        if self.state is EntryState.AGAIN:
            self.state = EntryState.OPEN
            return [ReleaseFlow()]
        return []

    def no_codes_live(self) -> list[EntryCommand]:
        """The start check found no code live anywhere: keys held in case they were one go back to
        being the greeting's (ignored, as before hand-offs existed) and the flow goes on."""
        if self.state is EntryState.KEYING:
            self.state, self.digits = EntryState.OPEN, ""
            return [CancelTimer(), ReleaseFlow()]
        return []

    def flow_asks(self) -> None:
        """The flow began waiting for an answer: its window is over (unless a code is under way)."""
        if self.state is EntryState.OPEN:
            self.state = EntryState.CLOSED

    def claimed(self) -> list[EntryCommand]:
        self.state = EntryState.CLOSED
        return [CancelTimer()]

    def refused(self, reason: str) -> list[EntryCommand]:
        """The claim failed: said, and the caller may try again (the flow still held), or not any more."""
        if self.state is not EntryState.CHECKING:
            return []
        self.tries += 1
        if self.tries >= self.max_tries:
            self.state = EntryState.CLOSED
            return [Refuse(reason), Refuse("too_many_tries", say=False), ReleaseFlow()]
        self.state = EntryState.AGAIN
        return [Refuse(reason), ArmTimer(self.key_timeout_s)]

    def _entered(self) -> list[EntryCommand]:
        code, self.digits = self.digits, ""
        if len(code) == CODE_LENGTH:
            self.state = EntryState.CHECKING
            return [Claim(code, "code")]
        if len(code) < CODE_LENGTH // 2:
            self.state = EntryState.OPEN
            return [ReleaseFlow()]  # a few keys in the greeting: dropped, as they always were
        self.state = EntryState.CHECKING
        return self.refused("incomplete")
