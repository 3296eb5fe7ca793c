"""The one findings model that every layer (Dockerfile, image, runtime) emits."""
from __future__ import annotations

import enum
from typing import NamedTuple, Optional, Tuple


class Severity(enum.IntEnum):
    """Ordered so that comparisons against the failure threshold are plain integer comparisons."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected error, warning or info)") from None


# An evidence line meaning: no other rule of this layer looked at the target (a Dockerfile that does
# not parse). Reports that list passing rules show those as not run rather than passed.
NOT_CHECKED_FURTHER = "no other rule could check this file: Docker must be able to parse it first"


class Location(NamedTuple):
    path: str
    line: int = 0  # 1-based; 0 when the finding concerns the whole file
    column: int = 0  # 1-based; 0 when unknown
    end_line: int = 0


class Hit(NamedTuple):
    """What a check yields: where and what. The engine stamps rule id and severity."""

    line: int
    message: str
    column: int = 1
    end_line: int = 0
    fix: Optional[str] = None  # an imperative suggestion, kept apart from the message
    evidence: Tuple[str, ...] = ()  # extra lines a report may show (inherited-from chain, file lists)


class Finding(NamedTuple):
    rule: str
    severity: Severity
    message: str
    location: Location
    fix: Optional[str] = None
    evidence: Tuple[str, ...] = ()

    def sort_key(self) -> tuple:
        return (self.location.path, self.location.line, self.location.column, self.rule)
