"""What every claim unit returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClaimLine:
    number: int
    claim: str
    verdict: str
    evidence: str
