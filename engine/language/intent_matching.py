"""Scores what a caller said against each intent's phrases. Pure: text in, ranked intents out.

Callers speak whole sentences ("이번 달 요금이 너무 많이 나왔어요"), not menu words, and the
recogniser is often unsure. A phrase word counts as heard when an uttered word starts with it or
it starts with the uttered word, which absorbs Korean particles and endings (요금 ~ 요금이) and
English plurals. A phrase's score is the share of its words heard; an intent takes its best phrase.
The final confidence multiplies that with the recogniser's own confidence.

Chinese is written without spaces, so a sentence is one "word" here. A Chinese phrase word is
heard when its syllable pairs, compared by toneless pinyin, occur in what was said: 话费 is found
in 我想查一下这个月的话费, and a recogniser's near miss in characters that sound the same
(挖费 for 话费 is one pair short; 花费 for 话费 is a match) still counts as it sounds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)
_HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(f"[{_HAN_RANGES}]")
_SCRIPT_RUN = re.compile(f"[{_HAN_RANGES}]+|[^{_HAN_RANGES}]+")
MIN_STEM = 2
"""Shorter words must match exactly: one syllable or letter is too little to go on."""


@dataclass(frozen=True)
class Hypothesis:
    """One recognition alternative: the words heard and how sure the recogniser was (0..1)."""

    text: str
    confidence: float


@dataclass(frozen=True)
class IntentScore:
    intent: str
    confidence: float
    """0..1: phrase coverage times the recogniser's confidence."""
    phrase: str
    """The phrase that matched best, for the journey and for tuning."""
    heard: str


def words(text: str) -> list[str]:
    """Lower-case words; a run mixing Chinese characters with letters or digits (5G套餐) is split
    at the change of script, so 5G is matched as a word and 套餐 by its syllables."""
    found: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFC", text)):
        found.extend(part for part in _SCRIPT_RUN.findall(word.casefold()) if part)
    return found


def score_intents(alternatives: Sequence[Hypothesis], intents: Mapping[str, Sequence[str]]) -> list[IntentScore]:
    """Every intent's best score over the alternatives (N-best), highest first; ties keep intent order."""
    best: dict[str, IntentScore] = {}
    for hypothesis in alternatives:
        heard = words(hypothesis.text)
        if not heard:
            continue
        for intent, phrases in intents.items():
            coverage, phrase = max(((_coverage(words(p), heard), p) for p in phrases), key=lambda pair: (pair[0], len(pair[1])))
            score = IntentScore(intent, round(coverage * max(0.0, min(1.0, hypothesis.confidence)), 4), phrase, hypothesis.text)
            if intent not in best or score.confidence > best[intent].confidence:
                best[intent] = score
    order = list(intents)
    # On a tie the intent whose phrase says more wins (不是 over 是, 话费查询 over 话费), then intent order.
    return sorted(best.values(), key=lambda s: (-s.confidence, -len(s.phrase), order.index(s.intent)))


def _coverage(phrase: list[str], heard: list[str]) -> float:
    if not phrase:
        return 0.0
    found = 0.0
    for word in phrase:
        if _HAN.search(word):
            found += _syllables_heard(word, heard)
        elif any(_same_word(word, uttered) for uttered in heard):
            found += 1
    return found / len(phrase)


SHORT_ANSWER = 3
"""A one-character phrase (是, 对, 好) counts only at the start of a short answer (是的, 对的): anywhere
in a sentence it is too common (好像不行 is not 好, 我不知道 is not 不)."""


def _syllables_heard(phrase_word: str, heard: list[str]) -> float:
    """Share of a Chinese word's syllable pairs said anywhere; a single character, see SHORT_ANSWER."""
    wanted = _syllable_units(phrase_word)
    if not wanted:
        return 0.0
    runs = [_pinyin(uttered) for uttered in heard if _HAN.search(uttered)]
    if len(wanted[0]) == 1:
        return float(any(run and run[0] == wanted[0][0] and len(run) <= SHORT_ANSWER for run in runs))
    said = {pair for run in runs for pair in zip(run, run[1:])}
    return sum(unit in said for unit in wanted) / len(wanted)


def _syllable_units(word: str) -> list[tuple[str, ...]]:
    syllables = _pinyin(word)
    return [(syllables[0],)] if len(syllables) == 1 else list(zip(syllables, syllables[1:]))


@lru_cache(maxsize=4096)
def _pinyin(text: str) -> tuple[str, ...]:
    """Toneless pinyin of the Chinese characters in text, one per character (others left out)."""
    from pypinyin import Style, lazy_pinyin  # loads its dictionaries on first use

    return tuple(lazy_pinyin("".join(_HAN.findall(text)), style=Style.NORMAL))


def _same_word(phrase_word: str, uttered: str) -> bool:
    if phrase_word == uttered:
        return True
    if min(len(phrase_word), len(uttered)) < MIN_STEM:
        return False
    return uttered.startswith(phrase_word) or phrase_word.startswith(uttered)
