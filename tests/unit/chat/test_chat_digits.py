"""A digit entry typed whole ends after its last key, by place: a value that also comes earlier in
the entry (123451, 100000, 100, a card number) must not end it early. No loop."""

from __future__ import annotations

import json

import pytest

from engine.chat.chat_conversation import ChatConversation
from engine.flows.flow_facts import Lookup, LookupAnswered, Transfer
from engine.journey.events import FellBack, NoMatch, to_stored
from test_chat_conversation import BUNDLE, sample, small, texts

AMOUNT = """
flow: n
language: en
start: amount
nodes:
  amount: {type: collect, prompt: "How many", digits: {min: 1, max: 4}, into: n, next: done, fallback: done}
  done: {type: hangup, prompt: "Got {n}."}
"""


@pytest.mark.parametrize("entry", ["123456", "123451", "100000", "111111", "654321", "909090"])
def test_an_account_with_repeated_digits_is_taken_whole(entry: str) -> None:
    chat = sample()
    lookup = next(e for e in chat.start().effects if isinstance(e, Lookup))
    chat.fact(LookupAnswered(lookup.request_id, None, "x"))
    turn = chat.typed(entry)
    assert chat.node_name == "menu" and chat.interpreter.variables["account"] == entry
    assert not [e for e in turn.events if isinstance(e, (NoMatch, FellBack))]


@pytest.mark.parametrize(("entry", "kept"), [("100", "100"), ("1", "1"), ("11", "11"), ("2022", "2022"), ("0", "0")])
def test_a_short_entry_is_not_cut_at_an_earlier_equal_key(entry: str, kept: str) -> None:
    chat = ChatConversation(small(AMOUNT), "n", {})
    chat.start()
    turn = chat.typed(entry)
    assert texts(turn) == [f"Got {kept}."] and chat.interpreter.variables["n"] == kept


@pytest.mark.parametrize("card", ["4111111111111111", "5500 0000 0000 0004", "4111-1111-1111-1111#", "378282246310005"])
def test_a_card_number_of_the_secure_entry_flow_is_taken_whole_and_never_journaled(card: str) -> None:
    chat = ChatConversation(BUNDLE.flow_set, "secure_card_ko", {})
    start = chat.start()
    assert start.input.kind == "digits" and start.input.masked and (start.input.min_digits, start.input.max_digits) == (15, 16)
    turn = chat.typed(card)
    digits = "".join(c for c in card if c.isdigit())
    assert chat.interpreter.variables["card_number"] == digits
    assert not [e for e in turn.events if isinstance(e, (NoMatch, FellBack))]
    transfer = next(e for e in turn.effects if isinstance(e, Transfer))
    assert transfer.queue == "billing" and transfer.context["card_number"] == "****"
    stored = json.dumps([to_stored(e) for e in (*start.events, *turn.events)], ensure_ascii=False)
    assert digits not in stored and digits not in json.dumps(texts(turn), ensure_ascii=False)
