"""Errors in an operator's flow file, each with the place to fix it: `file:line:column: message`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class FlowProblem:
    file: str
    line: int
    """1-based, as editors count."""
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class FlowInvalid(Exception):
    """One or more problems in a flow set; `str()` lists them one per line, sorted by place."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
