"""Quality review as operator files (ivr_flows/qa/*.yaml): scorecards, the auto-checks' settings,
flag keywords and the sentiment lexicon. Checked like flows, every problem at its file:line.

A scorecard has sections of questions with weights and answer types; a question may be answered
by an auto-check on the transcript and the journey (the reviewer can override it). The phrases
named here are also what small speech models spot in recordings (engine/recording/transcription.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.config.problems import FlowInvalid, FlowProblem
from engine.config.flow_validation import structure_problem, unknown_word
from engine.language.intent_matching import words
from engine.config.yaml_source import SourceMap, load_flow_file

QA_FOLDER = "qa"
NAME = r"^[a-z][a-z0-9_]{0,63}$"
Phrase = Annotated[str, Field(min_length=1, max_length=100)]
AutoCheck = Literal["greeted_with_name", "no_long_silence", "no_talk_over", "no_forbidden_words", "no_repeated_question"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(_Strict):
    id: str = Field(pattern=NAME)
    text: str = Field(min_length=1, max_length=300)
    weight: float = Field(default=1, gt=0, le=100)
    answer: Literal["yes_no", "scale_1_5"] = "yes_no"
    auto: AutoCheck | None = Field(default=None, description="Answered by this check on the transcript and journey; the reviewer may override.")

    @model_validator(mode="after")
    def _auto_is_yes_no(self) -> Question:
        if self.auto is not None and self.answer != "yes_no":
            raise ValueError("an auto-check answers yes or no: set `answer: yes_no`")
        return self


class Section(_Strict):
    name: str = Field(min_length=1, max_length=100)
    questions: list[Question] = Field(min_length=1, max_length=50)


class Scorecard(_Strict):
    title: str = Field(min_length=1, max_length=100)
    sections: list[Section] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique_questions(self) -> Scorecard:
        seen: set[str] = set()
        for section in self.sections:
            for question in section.questions:
                if question.id in seen:
                    raise ValueError(f"question id `{question.id}` is used twice; ids must be unique in a scorecard")
                seen.add(question.id)
        return self

    @property
    def version(self) -> str:
        """A hash of the card's content: a score says which wording it was given against."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]

    def questions(self) -> list[Question]:
        return [question for section in self.sections for question in section.questions]


class Lexicon(_Strict):
    positive: list[Phrase] = Field(default_factory=list)
    negative: list[Phrase] = Field(default_factory=list)


class Checks(_Strict):
    greeting_within_s: float = Field(default=15, gt=0, le=120, description="The agent says their name this soon after answering.")
    greeting_phrases: list[Phrase] = Field(default_factory=list, description="How agents greet; {agent_name} is the agent's name.")
    max_silence_s: float = Field(default=10, gt=0, le=600)
    max_talk_over_s: float = Field(default=2, gt=0, le=60, description="Both sides speaking at once for longer than this is talk-over.")
    forbidden: list[Phrase] = Field(default_factory=list, description="Words an agent must not say.")
    identity_questions: dict[Annotated[str, Field(pattern=NAME)], list[Phrase]] = Field(
        default_factory=dict,
        description="A variable the IVR collects (collect `into`, or lookup `into`) -> how an agent asks for it; asking for one "
        "the journey already has is a repeated question.",
    )
    long_hold_s: float = Field(default=60, gt=0, le=3600, description="A caller who waited longer than this for an agent is flagged.")


class QualityFile(_Strict):
    language: str = Field(min_length=2, max_length=10)
    checks: Checks = Checks()
    keywords: list[Phrase] = Field(default_factory=list, description="Calls where either side says one are flagged.")
    lexicon: Lexicon = Lexicon()
    scorecards: dict[Annotated[str, Field(pattern=NAME)], Scorecard] = Field(default_factory=dict)


@dataclass(frozen=True)
class QualityConfig:
    """Per language (a call's transcript is checked with its language's file)."""

    by_language: Mapping[str, QualityFile] = field(default_factory=dict)
    sources: Mapping[str, SourceMap] = field(default_factory=dict)
    """Where each language's file was read, for problems found later (words a model does not know)."""

    def for_language(self, language: str) -> QualityFile | None:
        return self.by_language.get(language) or self.by_language.get(language[:2])

    def scorecards(self) -> dict[str, Scorecard]:
        return {name: card for quality in self.by_language.values() for name, card in quality.scorecards.items()}

    def phrases(self, language: str, agent_names: list[str]) -> list[str]:
        """What a small model should spot in this language's recordings."""
        quality = self.for_language(language)
        if quality is None:
            return []
        checks = quality.checks
        found: list[str] = [*quality.keywords, *checks.forbidden, *quality.lexicon.positive, *quality.lexicon.negative]
        found += [phrase for asked in checks.identity_questions.values() for phrase in asked]
        for phrase in checks.greeting_phrases:
            found += [phrase.replace("{agent_name}", name) for name in agent_names] if "{agent_name}" in phrase else [phrase]
        found += agent_names
        return list(dict.fromkeys(found))


def load_quality(folder: Path) -> QualityConfig:
    """Every file under <flows>/qa/; raises FlowInvalid with each problem at its file:line."""
    files = sorted(p for p in (folder / QA_FOLDER).glob("*.y*ml") if p.suffix in (".yaml", ".yml")) if (folder / QA_FOLDER).is_dir() else []
    problems: list[FlowProblem] = []
    by_language: dict[str, tuple[QualityFile, SourceMap]] = {}
    cards: dict[str, str] = {}
    for path in files:
        try:
            data, source = load_flow_file(path)
        except FlowInvalid as invalid:
            problems.extend(invalid.problems)
            continue
        if not isinstance(data, dict):
            problems.append(source.at((), "a quality file is a mapping with `language:`, `checks:`, `scorecards:`"))
            continue
        try:
            parsed = QualityFile.model_validate(data)
        except ValidationError as exc:
            problems.extend(structure_problem(error, data, source) for error in exc.errors())
            continue
        if parsed.language in by_language:
            problems.append(source.at(("language",), f"language `{parsed.language}` is also configured in {by_language[parsed.language][1].file}; one quality file per language"))
            continue
        for name in parsed.scorecards:
            if name in cards:
                problems.append(source.at(("scorecards", name), f"scorecard `{name}` is also defined in {cards[name]}; names must be unique", key=True))
            cards[name] = str(path)
        by_language[parsed.language] = (parsed, source)
    if problems:
        raise FlowInvalid(problems)
    return QualityConfig({language: parsed for language, (parsed, _) in by_language.items()}, {language: source for language, (_, source) in by_language.items()})


def quality_vocabulary_problems(config: QualityConfig, vocabularies: Mapping[str, frozenset[str]]) -> list[FlowProblem]:
    """Phrase words the language's speech model does not know: spotting would silently drop them
    (and a phrase missing a word may match speech it was not meant for)."""
    problems: list[FlowProblem] = []
    for language, quality in config.by_language.items():
        vocabulary = vocabularies.get(language)
        source = config.sources.get(language)
        if vocabulary is None or source is None:
            continue
        for path, phrase in _phrases(quality):
            for word in words(phrase.replace("{agent_name}", " ")):
                if word not in vocabulary:
                    problems.append(source.at(path, unknown_word(word, phrase, language, vocabulary)))
    return problems


def _phrases(quality: QualityFile) -> list[tuple[tuple[str | int, ...], str]]:
    checks, lexicon = quality.checks, quality.lexicon
    found: list[tuple[tuple[str | int, ...], str]] = [(("keywords", i), p) for i, p in enumerate(quality.keywords)]
    found += [(("checks", "forbidden", i), p) for i, p in enumerate(checks.forbidden)]
    found += [(("checks", "greeting_phrases", i), p) for i, p in enumerate(checks.greeting_phrases)]
    found += [(("lexicon", side, i), p) for side in ("positive", "negative") for i, p in enumerate(getattr(lexicon, side))]
    found += [(("checks", "identity_questions", name, i), p) for name, asked in checks.identity_questions.items() for i, p in enumerate(asked)]
    return found


class ScoreInvalid(ValueError):
    """An answer a scorecard cannot take; the message names the question."""


def score_total(card: Scorecard, answers: Mapping[str, str]) -> float:
    """0-100 over the questions answered: yes_no scores its weight for yes, scale_1_5 (n-1)/4 of
    it; `na` leaves a question out. Raises ScoreInvalid naming the question."""
    questions = {question.id: question for question in card.questions()}
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise ScoreInvalid(f"answers.{unknown[0]}: no such question in `{card.title}` (there are: {', '.join(questions)})")
    earned = possible = 0.0
    for question_id, answer in answers.items():
        question = questions[question_id]
        if answer == "na":
            continue
        if question.answer == "yes_no":
            if answer not in ("yes", "no"):
                raise ScoreInvalid(f"answers.{question_id}: answer yes, no or na (got {answer!r})")
            earned += question.weight if answer == "yes" else 0.0
        else:
            if answer not in ("1", "2", "3", "4", "5"):
                raise ScoreInvalid(f"answers.{question_id}: answer 1-5 or na (got {answer!r})")
            earned += question.weight * (int(answer) - 1) / 4
        possible += question.weight
    return round(100 * earned / possible, 1) if possible else 0.0
