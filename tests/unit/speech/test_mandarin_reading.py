"""How Mandarin prompt text becomes the pinyin espeak-ng's cmn-latn-pinyin voice reads. Pure."""

from __future__ import annotations

import pytest

from engine.speech.mandarin_reading import chinese_number, pinyin_reading


@pytest.mark.parametrize(
    ("digits", "words"),
    [("0", "零"), ("7", "七"), ("10", "十"), ("12", "十二"), ("105", "一百零五"), ("1050", "一千零五十"),
     ("10086", "一万零八十六"), ("110000", "十一万"), ("10000005", "一千万零五"), ("200000000", "二亿")],
)
def test_cardinals_read_as_chinese_numerals(digits: str, words: str) -> None:
    assert chinese_number(digits) == words


def test_characters_become_tone_numbered_pinyin_with_sandhi() -> None:
    assert pinyin_reading("我要查询话费") == "wo3 yao4 cha2 xun2 hua4 fei4"
    assert pinyin_reading("不是一个") == "bu2 shi4 yi2 ge4", "不 and 一 change tone before a fourth tone"
    assert pinyin_reading("你好吗") == "ni2 hao3 ma5", "third-tone sandhi; the neutral tone is 5"


def test_punctuation_becomes_pauses_and_quotes_go() -> None:
    assert pinyin_reading("您好，请稍等。“谢谢”！") == "nin2 hao3, qing3 shao1 deng3. xie4 xie4."


@pytest.mark.parametrize(
    ("text", "reading"),
    [("请按1", "qing3 an4 yi1"), ("本月话费120.5元", "ben3 yue4 hua4 fei4 yi4 bai3 er4 shi2 dian3 wu3 yuan2"),
     ("多了50%", "duo1 le5 bai3 fen1 zhi1 wu3 shi2"), ("请拨10086", "qing3 bo1 yi1 ling2 ling2 ba1 liu4"),
     ("2024年", "er4 ling2 er4 si4 nian2"), ("010-1234", "ling2 yi1 ling2 yi1 qian1 er4 bai3 san1 shi2 si4")],
)
def test_numbers_are_read_as_amounts_keys_or_digit_by_digit(text: str, reading: str) -> None:
    assert pinyin_reading(text) == reading


def test_capital_abbreviations_are_spelled_and_latin_words_stay_whole() -> None:
    assert pinyin_reading("您的VIP号码") == "nin2 de5 V I P hao4 ma3"
    assert pinyin_reading("欢迎使用Threadline") == "huan1 ying2 shi3 yong4 Threadline"
