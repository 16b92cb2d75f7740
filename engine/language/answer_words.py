"""The words that answer a yes/no question, per language: the interpreter's confirmations, the
flow driver's grammar and the ACD's callback offer all hear yes and no the same way."""

YES_WORDS = {"ko": ("네", "예", "맞아", "응", "그래"), "en": ("yes", "yeah", "yep", "right", "correct"), "zh": ("是", "对", "好")}
NO_WORDS = {"ko": ("아니", "아니요", "아닙니다", "아뇨", "틀려"), "en": ("no", "nope", "wrong"), "zh": ("不", "没有")}
