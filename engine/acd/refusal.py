"""A refused agent request: the English text the engine logs and returns, with a stable code.

A str, so every caller that shows or compares the text keeps working; the agent page translates
the code (engine/web/desktop_protocol.py error(), messages/common.json `common.error_code.*`).
"""

from __future__ import annotations


class Refusal(str):
    code: str

    def __new__(cls, code: str, text: str) -> Refusal:
        refusal = super().__new__(cls, text)
        refusal.code = code
        return refusal
