"""PocketSphinx (CMU, BSD) behind the Recognizer interface: an English backend needing no model download.

The pip package carries the en-us acoustic model, the CMU dictionary and a general language model.
Loading the 135k-word dictionary is what makes a Decoder slow (about 100-170 ms; the acoustic model
is memory-mapped and costs about 8 ms), so the model reads the dictionary once into memory and each
grammar recogniser gets a Decoder with no dictionary, to which only the grammar's words are added,
plus a phone-loop Decoder for confidence (about 25 ms per recogniser in all, measured). Free-form
recognisers need the whole dictionary and the language model (about 300 ms): those Decoders are
pooled and reused between utterances.

Grammar mode: the node's phrases (words the dictionary lacks dropped) loop with a garbage path of
single phones, which costs GARBAGE_WEIGHT per phone: speech outside the grammar becomes phones
(left out of the text) instead of being forced onto a phrase.

Confidence: PocketSphinx gives no usable word posterior for a looping grammar (computing one needs
the lattice, which took minutes per utterance here), so each word's acoustic score is compared with
that of an unconstrained phone loop decoded over the same frames by a second, cheap Decoder: a word
that really was said scores close to the best any phone sequence can do, a word the grammar forced
onto other speech scores well below it. The per-frame difference goes through a logistic centred on
LLR_CENTRE (word confidence 0.5) with slope LLR_SCALE; the hypothesis' confidence is the mean over
its phrase words. LLR_CENTRE was read off the synthetic tuning bank (tests/speech/support_en_menu.tsv),
where right and wrong phrase words overlap a lot on espeak-ng audio: the mapping is a first cut.
"""

from __future__ import annotations

import math
import queue
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.language.intent_matching import Hypothesis
from engine.speech.recognition import Recognition, TimedWord

PHONES = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
GARBAGE_PREFIX = "garbage_"
"""Garbage words are single phones named garbage_aa...; the CMU dictionary has no word like it."""
GARBAGE_WEIGHT = 0.001
"""Transition weight of a garbage phone against 1 for a phrase: lower forces more speech onto phrases.

Vosk's filler words are not in these grammars: in this acoustic model's loop they won over the phrases
themselves ("technical support" heard as "but it a got for at"); the garbage phones absorb other speech instead."""
LANGUAGE_WEIGHT = 15.0
"""PocketSphinx's -lw for grammars; the default 6.5 let garbage phones beat real phrases."""
LLR_CENTRE = -4.0
LLR_SCALE = 0.7
"""Word confidence = logistic((llr - LLR_CENTRE) / LLR_SCALE), llr = (word score - phone loop score) per frame, in
thousandths of the natural log of the scores PocketSphinx reports (they are scaled down internally)."""
FRAMES_PER_S = 100
PHONE_LINE_CMN = "36.6,15.3,-34.1,33.6,-24.1,0.5,11.4,-29.7,11.9,-15.1,2.5,6.9,-16.0"
"""Cepstral means of 8 kHz phone audio (measured): live CMN starts here instead of the wideband default, or the first second is misheard."""
FREE_FORM_CONFIDENCE = 0.4
"""Free-form decoding gives no usable confidence (get_prob() returned 1.0 for a garbled utterance),
and it is poor (98% word errors on the test voices): below the flows' confirm level, never accepted alone."""
_TOKEN = re.compile(r"\w+(?:'\w+)*")
_NOT_WORDS = ("<s>", "</s>", "<sil>", "(NULL)")


def default_model_dir() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


def packaged_model_folder(language: str) -> Path | None:
    """The package's own model for the language (it ships en-us only), or None if it is not installed."""
    if language != "en":
        return None
    try:
        folder = default_model_dir()
    except ImportError:
        return None
    return folder if folder.is_dir() else None


class SphinxSpeechModel:
    """Reads the dictionary once (about 0.15 s); thread-safe to make recognisers from.

    model_dir holds an acoustic model folder (the one with `mdef`), a `.dict` and optionally a
    `.lm.bin` language model for free-form speech: the layout of the package's own en-us model.
    """

    def __init__(self, model_dir: Path | None = None, language: str = "en") -> None:
        import pocketsphinx

        self._sphinx = pocketsphinx
        self._dir = model_dir or default_model_dir()
        self._language = language
        acoustic = next((path.parent for path in sorted(self._dir.glob("*/mdef"))), None)
        dictionary = next(iter(sorted(self._dir.glob("*.dict"))), None)
        if acoustic is None or dictionary is None:  # a StopIteration here would hang an executor's future
            raise FileNotFoundError(f"{self._dir} is not a PocketSphinx model folder (it needs <acoustic model>/mdef and a .dict); reinstall `pocketsphinx==5.1.1`")
        self._acoustic, self._dictionary = acoustic, dictionary
        self._language_model = next((path for path in sorted(self._dir.glob("*.lm.bin")) if "phone" not in path.name), None)
        self._pronunciations = read_pronunciations(self._dictionary)
        self._vocabulary = frozenset(self._pronunciations)
        self._free_form: queue.SimpleQueue[Any] = queue.SimpleQueue()

    @property
    def language(self) -> str:
        return self._language

    @property
    def description(self) -> str:
        return f"pocketsphinx en-us {self._dir}"

    @property
    def cuts_unsure_words(self) -> bool:
        return True

    def vocabulary(self) -> frozenset[str] | None:
        return self._vocabulary

    def recognizer(self, phrases: Sequence[str], spotting: bool = False) -> SphinxRecognizer:
        if not phrases:
            return SphinxRecognizer(self._borrow_free_form, self._give_back_free_form, None, frozenset())
        kept = sphinx_phrases(phrases, self._vocabulary)
        grammar = self._grammar_decoder(kept)
        phrase_words = frozenset(word for phrase in kept for word in phrase.split())
        return SphinxRecognizer(lambda: grammar, lambda decoder: None, self._phone_loop_decoder(), phrase_words)

    def _decoder(self, **settings: Any) -> Any:
        return self._sphinx.Decoder(hmm=str(self._acoustic), loglevel="FATAL", bestpath=False, cmninit=PHONE_LINE_CMN, **settings)

    def _grammar_decoder(self, phrases: Sequence[str]) -> Any:
        decoder = self._decoder(lm=None, dict=None, lw=LANGUAGE_WEIGHT)
        for word in sorted({word for phrase in phrases for word in phrase.split()}):
            for number, phones in enumerate(self._pronunciations[word], start=1):
                decoder.add_word(word if number == 1 else f"{word}({number})", phones, False)
        for phone in PHONES:
            decoder.add_word(GARBAGE_PREFIX + phone.lower(), phone, False)
        decoder.add_jsgf_string("phrases", jsgf(phrases))
        decoder.activate_search("phrases")
        return decoder

    def _phone_loop_decoder(self) -> Any:
        decoder = self._decoder(lm=None, dict=None)
        decoder.add_allphone_file("phones", None)
        decoder.activate_search("phones")
        return decoder

    def _borrow_free_form(self) -> Any:
        try:
            return self._free_form.get_nowait()
        except queue.Empty:
            return self._decoder(dict=str(self._dictionary), lm=str(self._language_model) if self._language_model else None)

    def _give_back_free_form(self, decoder: Any) -> None:
        self._free_form.put(decoder)


def read_pronunciations(path: Path) -> dict[str, tuple[str, ...]]:
    """word -> its pronunciations, lower case, alternates (`word(2)`) folded under their word."""
    found: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            head, _, phones = line.strip().partition(" ")
            if not phones:
                continue
            word = head.split("(", 1)[0].lower()
            found.setdefault(word, []).append(phones.split("#", 1)[0].strip())
    return {word: tuple(phones) for word, phones in found.items()}


def sphinx_phrases(phrases: Iterable[str], vocabulary: frozenset[str]) -> list[str]:
    """Each phrase in words the dictionary knows (apostrophes kept: "don't" is one CMU word); unknown words left out."""
    kept: dict[str, None] = {}
    for phrase in phrases:
        known = [token for token in _TOKEN.findall(phrase.casefold()) if token in vocabulary]
        if known:
            kept[" ".join(known)] = None
    return list(kept)


def jsgf(phrases: Sequence[str]) -> str:
    """A loop over phrases and single garbage phones, the phones made costly."""
    choices = [f"/1/ ( {' | '.join(phrases)} )"] if phrases else []
    choices.append(f"/{GARBAGE_WEIGHT:g}/ ( {' | '.join(GARBAGE_PREFIX + phone.lower() for phone in PHONES)} )")
    return f"#JSGF V1.0;\ngrammar phrases;\npublic <utterance> = ( {' | '.join(choices)} )+;\n"


def word_confidence(llr_per_frame: float) -> float:
    return 1.0 / (1.0 + math.exp(-(llr_per_frame * 1000.0 - LLR_CENTRE) / LLR_SCALE))


class SphinxRecognizer:
    """One listening's decoding; each utterance starts on the first audio after final()."""

    def __init__(self, borrow: Any, give_back: Any, phone_loop: Any, phrase_words: frozenset[str]) -> None:
        self._borrow = borrow
        self._give_back = give_back
        self._phone_loop = phone_loop
        self._phrase_words = phrase_words
        self._decoder: Any = None

    def accept(self, pcm16: bytes) -> None:
        if self._decoder is None:
            self._decoder = self._borrow()
            self._decoder.start_utt()
            if self._phone_loop is not None:
                self._phone_loop.start_utt()
        self._decoder.process_raw(pcm16)
        if self._phone_loop is not None:
            self._phone_loop.process_raw(pcm16)

    def partial(self) -> str:
        if self._decoder is None:
            return ""
        hypothesis = self._decoder.hyp()
        return _spoken_text(hypothesis.hypstr if hypothesis is not None else "")

    def final(self) -> Recognition:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return Recognition(())
        decoder.end_utt()
        segments = [(str(s.word), int(s.start_frame), int(s.end_frame), float(s.ascore)) for s in (decoder.seg() or [])]
        free_form_confidence = FREE_FORM_CONFIDENCE if self._phone_loop is None else 0.0  # get_prob() said 1.0 for garbage
        self._give_back(decoder)
        loop: list[tuple[int, int, float]] = []
        if self._phone_loop is not None:
            self._phone_loop.end_utt()
            loop = [(int(s.start_frame), int(s.end_frame), _ln(float(s.ascore))) for s in (self._phone_loop.seg() or [])]
        timed: list[TimedWord] = []
        judged: list[float] = []
        for word, start, end, ascore in segments:
            if word in _NOT_WORDS or word.startswith(("[", GARBAGE_PREFIX)):
                continue
            spoken = word.split("(", 1)[0]
            if loop:
                frames = end - start + 1
                confidence = word_confidence((_ln(ascore) - _loop_score(loop, start, end)) / frames)
                if spoken in self._phrase_words:
                    judged.append(confidence)
            else:
                confidence = free_form_confidence
            timed.append(TimedWord(spoken, start / FRAMES_PER_S, (end + 1) / FRAMES_PER_S, round(confidence, 4)))
        if not timed:
            return Recognition(())
        text = " ".join(word.word for word in timed)
        if loop:
            confidence = sum(judged) / len(judged) if judged else 0.0
        else:
            confidence = free_form_confidence
        return Recognition((Hypothesis(text, round(confidence, 4)),), tuple(timed))


def _ln(probability: float) -> float:
    """Segment scores come as probabilities; their logs add over frames."""
    return math.log(max(probability, 1e-300))


def _loop_score(loop: Sequence[tuple[int, int, float]], start: int, end: int) -> float:
    """The phone loop's log score over frames start..end, phones cut at the edges pro rata."""
    total = 0.0
    for loop_start, loop_end, score in loop:
        overlap = min(end, loop_end) - max(start, loop_start) + 1
        if overlap > 0:
            total += score * overlap / (loop_end - loop_start + 1)
    return total


def _spoken_text(hypothesis: str) -> str:
    return " ".join(word.split("(", 1)[0] for word in hypothesis.split() if not word.startswith(("<", "[", GARBAGE_PREFIX)))
