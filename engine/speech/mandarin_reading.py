"""How a Mandarin prompt is read aloud: Chinese text in, tone-numbered pinyin for espeak-ng out. Pure.

espeak-ng's `cmn` voice reads the pinyin of each character as English letters ("Y-A-O four"),
so prompts go to its `cmn-latn-pinyin` voice instead, as pypinyin's TONE3 syllables with the
neutral tone as 5 and third-tone / 一 / 不 sandhi applied (`wo3 yao4 cha2 xun2`).

Before that, what pypinyin leaves alone is made speakable:
- Arabic numbers become Chinese numerals: amounts and menu keys as cardinals (`按1` → 按一,
  `120元` → 一百二十元, `12.5` → 十二点五, `50%` → 百分之五十); phone, account and other long
  numbers, numbers with a leading 0 and four-digit years digit by digit (`10086` → 一零零八六,
  `2024年` → 二零二四年). espeak-ng's own reading of `10086` is wrong (十千...), hence ours.
- Runs of capitals up to five letters (`VIP`, `SIM`) are spelled: espeak-ng's pinyin voice says
  single letters the way Mandarin speakers do. Other Latin words (`Threadline`, `WiFi`) are left
  whole: the voice reads words that are not pinyin in English.
- Punctuation becomes pauses: ，、；： a short one (`, `), 。！？… a sentence break (`. `).
"""

from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

DIGITS = "零一二三四五六七八九"
SMALL_UNITS = ("", "十", "百", "千")
MAX_CARDINAL = 10**12 - 1
"""Up to 9999亿; longer numbers are read digit by digit."""
CARDINAL_MAX_DIGITS = 4
"""A bare number of up to 4 digits is an amount or a key (`按1`, `3天`); longer is an ID or a phone number."""
AMOUNT_AFTER = "元块角分个位次天月日号年岁小分秒万亿%"
YEAR = "年"

_NUMBER = re.compile(r"(\d+)(?:\.(\d+))?(%?)")
_ACRONYM = re.compile(r"(?<![A-Za-z])[A-Z]{2,5}(?![A-Za-z])")
_SHORT_PAUSE = re.compile(r"[，、；：,;:]+")
_SENTENCE_BREAK = re.compile(r"[。！？!?…]+|\.(?!\d)")
_DROPPED = re.compile(r"[“”‘’\"'（）()《》〈〉【】\[\]「」『』—\-－~～·*#_/\\|<>]+")


def pinyin_reading(text: str) -> str:
    """The text as espeak-ng's cmn-latn-pinyin voice should read it (see the module docstring)."""
    spoken = _DROPPED.sub(" ", _ACRONYM.sub(_spell, _NUMBER.sub(_number_in_words, text)))
    spoken = _SENTENCE_BREAK.sub(" . ", _SHORT_PAUSE.sub(" , ", spoken))
    syllables = lazy_pinyin(spoken, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
    joined = " ".join(syllables)
    joined = re.sub(r"\s+([,.])", r"\1", " ".join(joined.split()))
    return re.sub(r"^[,. ]+", "", joined)


def chinese_number(digits: str, decimals: str = "") -> str:
    """A cardinal in Chinese numerals: `120` → 一百二十, `10086` → 一万零八十六, `0.5` → 零点五."""
    value = int(digits)
    if value > MAX_CARDINAL:
        return digit_by_digit(digits + decimals)
    words = _cardinal(value)
    return words + ("点" + digit_by_digit(decimals) if decimals else "")


def digit_by_digit(digits: str) -> str:
    return "".join(DIGITS[int(d)] for d in digits)


def _number_in_words(match: re.Match[str]) -> str:
    digits, decimals, percent = match.group(1), match.group(2) or "", match.group(3)
    after = match.string[match.end():match.end() + 1]
    if percent:
        return "百分之" + chinese_number(digits, decimals)
    if after == YEAR and len(digits) == 4 and not decimals:
        return digit_by_digit(digits)
    is_amount = bool(decimals) or (after != "" and after in AMOUNT_AFTER)
    if digits.startswith("0") and len(digits) > 1 and not decimals:
        return digit_by_digit(digits)
    if len(digits) <= CARDINAL_MAX_DIGITS or is_amount:
        return chinese_number(digits, decimals)
    return digit_by_digit(digits) + ("点" + digit_by_digit(decimals) if decimals else "")


def _cardinal(value: int) -> str:
    if value == 0:
        return DIGITS[0]
    groups = []
    while value:
        groups.append(value % 10000)
        value //= 10000
    words = ""
    pending_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            pending_zero = bool(words)
            continue
        if words and (pending_zero or group < 1000):
            words += DIGITS[0]
        words += _below_ten_thousand(group) + ("", "万", "亿")[index]
        pending_zero = False
    return words[1:] if words.startswith("一十") else words


def _below_ten_thousand(value: int) -> str:
    words = ""
    zero = False
    for position in range(3, -1, -1):
        digit = value // 10**position % 10
        if digit == 0:
            zero = bool(words)
            continue
        if zero:
            words += DIGITS[0]
            zero = False
        words += DIGITS[digit] + SMALL_UNITS[position]
    return words


def _spell(match: re.Match[str]) -> str:
    return " " + " ".join(match.group(0)) + " "
