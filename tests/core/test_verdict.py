"""Whose word makes a produced part good: the welder's own result, else the inspection's, else an operator's."""
from __future__ import annotations

from cell_controller.core.config import DEFAULT_INSPECTION, InspectionConfig
from cell_controller.core.journal import Outcome
from cell_controller.core.verdict import judgements, verdict

BAND = InspectionConfig("learned_inspection", review_low=0.2, review_high=0.8)


def inspection(p: float, status: str = "known", level: str = "B", reason: str = "") -> dict[str, str]:
    return {"part_id": "P000001", "status": status, "level": level, "p_worse_than_c": repr(p),
            "imperfections": "undercut" if p > 0.5 else "", "reason": reason, "inspector": "learned_inspection"}


def test_the_welders_own_level_decides_and_the_inspection_is_kept_beside_it() -> None:
    found = judgements({"iso5817_level": "D", "imperfections": "porosity"}, inspection(0.1), BAND, 1.0)
    assert [j.source for j in found] == ["device", "inspection"]
    assert found[0].imperfections == ("porosity",) and found[1].verdict == "good"
    assert verdict(found) == (Outcome.DEFECTIVE, "")


def test_without_a_level_from_the_welder_the_inspection_decides_by_its_band() -> None:
    no_level = {"iso5817_level": "", "imperfections": ""}
    assert verdict(judgements(no_level, inspection(0.05), BAND, 1.0))[0] is Outcome.GOOD
    assert verdict(judgements(no_level, inspection(0.95, level="D"), BAND, 1.0))[0] is Outcome.DEFECTIVE
    outcome, reason = verdict(judgements(no_level, inspection(0.5, level="C"), BAND, 1.0))
    assert outcome is Outcome.NEEDS_INSPECTION and "0.50 within [0.2, 0.8]" in reason


def test_an_unknown_prediction_or_none_at_all_goes_to_manual_inspection() -> None:
    unknown = inspection(float("nan"), status="unknown", level="", reason="3 of 90 current_A samples are not finite")
    found = judgements({}, unknown, DEFAULT_INSPECTION, 1.0)
    assert found[0].status == "unknown" and found[0].p_worse_than_c is None
    assert verdict(found) == (Outcome.NEEDS_INSPECTION, "inspection unknown: 3 of 90 current_A samples are not finite")
    assert verdict(judgements({}, None, DEFAULT_INSPECTION, 1.0))[0] is Outcome.NEEDS_INSPECTION
    # a probability no inspector can give is no verdict either
    assert verdict(judgements({}, inspection(1.5), BAND, 1.0))[0] is Outcome.NEEDS_INSPECTION


def test_a_garbled_or_rogue_prediction_is_never_taken_as_a_verdict() -> None:
    for garbage in ({"status": "known", "level": "X", "p_worse_than_c": "0.01"},
                    {"status": "known", "level": "B", "p_worse_than_c": "zero"},
                    {"status": "sure", "level": "B", "p_worse_than_c": "0.01"},
                    {"status": "known", "level": "B", "p_worse_than_c": "nan"}):
        (judged,) = judgements({"iso5817_level": ""}, garbage, BAND, 1.0)
        assert judged.status == "unknown" and verdict((judged,))[0] is Outcome.NEEDS_INSPECTION, garbage
    assert verdict(judgements({"iso5817_level": ""}, {}, BAND, 1.0))[0] is Outcome.NEEDS_INSPECTION  # empty: none
