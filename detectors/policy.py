"""From findings to a verdict, by the rules in `config/policy.yaml`."""

from __future__ import annotations

from collections.abc import Iterable

from detectors.config import Policy
from detectors.model import Finding, Verdict


def fired(findings: Iterable[Finding], min_confidence: float) -> set[str]:
    """The conditions that hold: detector names and `detector:label` pairs."""
    names: set[str] = set()
    for finding in findings:
        if finding.confidence >= min_confidence:
            names.update((finding.detector, f"{finding.detector}:{finding.label}"))
    return names


def decide(findings: Iterable[Finding], policy: Policy) -> Verdict:
    """The loudest rule whose conditions all hold, lowered for published documents."""
    names = fired(findings, policy.min_confidence)
    verdict = max(
        (Verdict.parse(rule.verdict) for rule in policy.rules if set(rule.when) <= names),
        default=Verdict.CLEAN,
    )
    release = policy.public_release
    if verdict > Verdict.CLEAN and release.when in names and not names & set(release.unless):
        lowered = Verdict(max(verdict - release.lower_by, Verdict.LOW))
        verdict = min(verdict, max(lowered, Verdict.parse(release.floor)))
    return verdict


def deciding_detectors(policy: Policy, detectors: Iterable[str]) -> tuple[str, ...]:
    """The detectors that give the loudest verdict on their own: once one of them has fired
    (and is not lowered as published), no other finding can make the page louder."""
    alone = {
        rule.when[0].split(":")[0]
        for rule in policy.rules
        if len(rule.when) == 1 and Verdict.parse(rule.verdict) is Verdict.CRITICAL
    }
    return tuple(name for name in detectors if name in alone)
