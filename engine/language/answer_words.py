"""The words that answer a yes/no question, per language: the interpreter's confirmations, the
flow driver's grammar and the ACD's callback offer all hear yes and no the same way.

Chinese negates by prefixing (不是, 不对): when a no-phrase holding a yes-phrase is heard, the
longer phrase is the answer (the interpreter's rule), so 不是 is no, not both."""

YES_WORDS = {"ko": ("네", "예", "맞아", "응", "그래"), "en": ("yes", "yeah", "yep", "right", "correct"), "zh": ("是", "对", "好", "是的", "对的", "好的", "可以")}
NO_WORDS = {"ko": ("아니", "아니요", "아닙니다", "아뇨", "틀려"), "en": ("no", "nope", "wrong"), "zh": ("不", "没有", "不是", "不对", "不要", "不用")}
