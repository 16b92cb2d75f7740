"""One version of everything an operator wrote in the flow folder, loaded and cross-checked together.

A bundle is frozen: a reload builds a new one and swaps it in whole, and a call keeps the bundle it
started with to its end. It holds parsed data only; the live services calls need (HTTP, speech,
the distributor, rendered prompts) are added by engine/call/flow_services.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.config.acd_config import AGENTS_FOLDER, QUEUES_FOLDER, AcdConfig, callback_phrase_problems, flow_queue_uses, load_acd
from engine.config.flow_model import FlowSet, PromptFile
from engine.config.flow_validation import STEPS_FOLDER, LoadedFlow, LoadedProcedure, load_flow_set, vocabulary_problems
from engine.config.problems import FlowInvalid, FlowProblem
from engine.config.qa_config import QA_FOLDER, QualityConfig, load_quality, quality_vocabulary_problems
from engine.settings import SettingsError

PROMPT_FIELDS = ("prompt", "confirm_prompt", "hold_prompt")
"""Node fields that may name a recorded prompt file."""


class FlowsNotReady(SettingsError):
    """The flow folder cannot run: each problem is one line an operator can act on."""

    def __init__(self, headline: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__("\n".join((headline, *problems)))
        self.problems = problems or (headline,)


@dataclass(frozen=True)
class ConfigBundle:
    """Flows, procedures, queues, agents and QA cards of one version (the flows' versions say which)."""

    flow_set: FlowSet
    inbound: str
    """The flow that answers inbound calls."""
    acd: AcdConfig | None = None
    """Queues and agents of the same version as the flows (the ACD takes calls from `queue` nodes)."""
    quality: QualityConfig = field(default_factory=QualityConfig)
    """Scorecards and auto-check settings of the same version (ivr_flows/qa/)."""
    loaded_flows: Mapping[str, LoadedFlow] = field(default_factory=dict)
    """The flows with their files and source maps, for problems found after loading."""
    loaded_procedures: Mapping[str, LoadedProcedure] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """The language of each flow (the speech models to prepare)."""
        return tuple(loaded.flow.language for loaded in self.loaded_flows.values())

    def prompt_sources(self) -> dict[str, Path]:
        """Recorded prompt files: the path written in the flow -> the file on disk (the first flow naming a path wins)."""
        sources: dict[str, Path] = {}
        for loaded in self.loaded_flows.values():
            for node in loaded.flow.nodes.values():
                for name in PROMPT_FIELDS:
                    prompt = getattr(node, name, None)
                    if isinstance(prompt, PromptFile) and prompt.file not in sources:
                        sources[prompt.file] = loaded.path.parent / prompt.file
        return sources

    def vocabulary_problems(self, vocabularies: Mapping[str, frozenset[str]]) -> list[FlowProblem]:
        """Phrase words (flows, callback offers, QA files) the speech models do not know."""
        problems = vocabulary_problems(self.loaded_flows, self.loaded_procedures, vocabularies)
        problems += callback_phrase_problems(self.acd, self.loaded_flows, vocabularies) if self.acd is not None else []
        problems += quality_vocabulary_problems(self.quality, vocabularies)
        return problems


def load_bundle(folder: Path, inbound: str) -> ConfigBundle:
    """Load and cross-check the whole folder; raises FlowsNotReady naming what to fix. Reads files: run it off the loop."""
    try:
        flows, procedures = load_flow_set([folder])
    except FlowInvalid as invalid:
        raise FlowsNotReady(f"flows.inbound: the flows in {folder} do not validate:", tuple(map(str, invalid.problems))) from None
    if inbound not in flows:
        raise FlowsNotReady(f"flows.inbound: no flow `{inbound}` in {folder} (there are: {', '.join(sorted(flows)) or 'none'})")
    try:
        acd = load_acd(folder, flow_queue_uses(flows), flows)
    except FlowInvalid as invalid:
        raise FlowsNotReady(f"flows.inbound: the queues and agents in {folder} do not validate:", tuple(map(str, invalid.problems))) from None
    try:
        quality = load_quality(folder)
    except FlowInvalid as invalid:
        raise FlowsNotReady(f"flows.inbound: the quality files in {folder / QA_FOLDER} do not validate:", tuple(map(str, invalid.problems))) from None
    flow_set = FlowSet(
        {name: loaded.flow for name, loaded in flows.items()},
        {name: tuple(loaded.procedure.steps) for name, loaded in procedures.items()},
        {name: loaded.version for name, loaded in flows.items()},
    )
    return ConfigBundle(flow_set, inbound, acd, quality, flows, procedures)


def source_fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the flow, procedure, queue, agent and QA files: a
    change means a new bundle is due."""
    entries = []
    patterns = ("*.y*ml", f"{STEPS_FOLDER}/*.y*ml", f"{QUEUES_FOLDER}/*.y*ml", f"{AGENTS_FOLDER}/*.y*ml", f"{QA_FOLDER}/*.y*ml")
    for path in sorted(path for pattern in patterns for path in folder.glob(pattern)):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)
