"""Whose word makes a produced part good or defective.

The welder's own ISO 5817 result decides when it reports one (`source: device`; the twin's welder does,
as an oracle: `twin.weld_grading`). Otherwise the inspection node's prediction decides
(`source: inspection`, policies/inspection.py): P(worse than level C) below `inspection.review_band.min`
is good, above its max defective, and in between, like an `unknown` prediction or none at all, the part
`needs_inspection`: an operator's verdict (`cellctl inspect`) decides later. Both judgements are kept
with the part's record when both were made.
"""
from __future__ import annotations

import math

from .config import InspectionConfig
from .journal import Judgement, Outcome

#: the ISO 5817 levels the cell accepts
GOOD_LEVELS = ("B", "C")


#: the ISO 5817 levels a judgement may name
LEVELS = ("B", "C", "D", "fail")


def names(text: str) -> tuple[str, ...]:
    """The imperfection names of a comma-separated list (as the welder's status and the inspection carry)."""
    return tuple(name for name in text.split(",") if name)


def device_judgement(weld: dict[str, str], at: float) -> Judgement | None:
    """The welder's own result (its status values after the weld), None when it reports no level."""
    level = weld.get("iso5817_level", "")
    if level in ("", "None"):
        return None
    verdict = Outcome.GOOD if level in GOOD_LEVELS else Outcome.DEFECTIVE
    return Judgement("device", "known", level, verdict.value, None, names(weld.get("imperfections", "")), "",
                     "welder", at)


def inspection_judgement(inspection: dict[str, str], band: InspectionConfig, at: float) -> Judgement:
    """The inspection node's prediction (the `weld/inspection` values) and the verdict the band gives it."""
    try:
        p = float(inspection.get("p_worse_than_c", "nan"))
    except ValueError:
        p = math.nan
    # a probability or level no inspector gives (a garbled or rogue message) is no verdict either
    known = inspection.get("status") == "known" and 0.0 <= p <= 1.0 and inspection.get("level") in LEVELS
    reason = inspection.get("reason", "")
    if not known:
        verdict, reason = Outcome.NEEDS_INSPECTION, f"inspection unknown: {reason or 'no probability'}"
    elif p < band.review_low:
        verdict = Outcome.GOOD
    elif p > band.review_high:
        verdict = Outcome.DEFECTIVE
    else:
        verdict = Outcome.NEEDS_INSPECTION
        reason = f"inspection unsure: P(worse than C) {p:.2f} within [{band.review_low:g}, {band.review_high:g}]"
    return Judgement("inspection", "known" if known else "unknown", inspection.get("level", "") if known else "",
                     verdict.value, p if known else None, names(inspection.get("imperfections", "")), reason,
                     inspection.get("inspector", "inspection"), at)


def judgements(weld: dict[str, str], inspection: dict[str, str] | None, band: InspectionConfig,
               at: float) -> tuple[Judgement, ...]:
    """The judgements a produced part's record keeps: the device's, then the inspection's."""
    found = (device_judgement(weld, at), inspection_judgement(inspection, band, at) if inspection else None)
    return tuple(j for j in found if j is not None)


def verdict(found: tuple[Judgement, ...]) -> tuple[Outcome, str]:
    """(outcome, reason) of a produced part: the device's verdict first, then the inspection's."""
    for source in ("device", "inspection"):
        for judgement in found:
            if judgement.source == source:
                return Outcome(judgement.verdict), judgement.reason
    return Outcome.NEEDS_INSPECTION, "no verdict: the welder reports no level and no inspection came"
