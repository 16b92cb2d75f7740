"""Intent scoring on what callers say, in the three sample languages (pure: text in, ranked intents out)."""

from __future__ import annotations

from engine.language.intent_matching import Hypothesis, score_intents

MANDARIN_MENU = {"billing": ["话费", "查询话费", "账单"], "technical": ["网络", "上不了网", "宽带坏了"], "sales": ["新业务", "套餐"]}


def best(text: str, intents: dict[str, list[str]], confidence: float = 1.0) -> tuple[str, float]:
    ranked = score_intents([Hypothesis(text, confidence)], intents)
    return ranked[0].intent, ranked[0].confidence


def test_a_chinese_phrase_is_found_inside_a_sentence_written_without_spaces() -> None:
    assert best("我想查一下这个月的话费", MANDARIN_MENU) == ("billing", 1.0)
    assert best("我家的宽带坏了，上不了网", MANDARIN_MENU) == ("technical", 1.0)
    assert best("有没有新的优惠套餐", MANDARIN_MENU) == ("sales", 1.0)


def test_chinese_is_compared_by_sound_so_a_homophone_still_counts() -> None:
    assert best("这个月花费太多了", MANDARIN_MENU) == ("billing", 1.0), "花费 huafei sounds as 话费"
    intent, score = best("挖费", MANDARIN_MENU)
    assert score == 0.0, "wa fei is not hua fei: one pair short is nothing heard"


def test_a_chinese_phrase_partly_heard_scores_its_share_and_nothing_unrelated_scores() -> None:
    ranked = score_intents([Hypothesis("我想查询一下", 1.0)], {"billing": ["查询话费"]})
    assert ranked[0].confidence == round(1 / 3, 4), "cha-xun of cha-xun, xun-hua, hua-fei"
    assert score_intents([Hypothesis("今天天气怎么样", 1.0)], MANDARIN_MENU)[0].confidence == 0.0


def test_korean_endings_and_english_plurals_still_match_by_stem() -> None:
    assert best("요금이 너무 많이 나왔어요", {"billing": ["요금"], "technical": ["인터넷"]}) == ("billing", 1.0)
    assert best("my bills are wrong", {"billing": ["bill"], "technical": ["internet"]}) == ("billing", 1.0)
    assert best("my internet is down", {"billing": ["my bill"], "technical": ["internet"]}, 0.8) == ("technical", 0.8)
