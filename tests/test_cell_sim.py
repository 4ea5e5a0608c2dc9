"""The cell in one process writes its shift to the journal as the full cell does, the same every time."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.journal import Journal, Outcome
from cell_controller.core.production import WELD_RESULT_KEYS
from cell_controller.cell_sim import simulate_shift
from cell_controller.testing import learned_policies, private_cell_file

PARTS = 3


def baseline(data: dict) -> None:
    """The baseline cell: the fixed recipe and fixed-rate feeding."""
    data["policies"]["weld"], data["policies"]["feed"] = "fixed_recipe", "fixed_rate"


def shift(folder: Path, config: CellConfig, parts: int = PARTS) -> tuple[list, list]:
    """Simulate a shift into a journal in `folder`: its records and its events."""
    with Journal(folder / "journal.sqlite") as journal:
        shift_id = simulate_shift(config, journal, parts)
        assert journal.summary(shift_id).status == "complete"
        return journal.parts(shift_id), journal.events(shift_id)


def test_a_simulated_shift_writes_every_part_whole(tmp_path: Path) -> None:
    config = load_cell(private_cell_file(tmp_path, "sim", baseline))
    records, events = shift(tmp_path, config)
    assert [r.part_id for r in records] == [f"P{k:06d}" for k in range(1, PARTS + 1)]
    for r in records:
        assert r.outcome in (Outcome.GOOD, Outcome.DEFECTIVE) and r.good == (r.iso5817_level in ("B", "C"))
        assert r.cycle_time_s is not None and 0.0 < r.cycle_time_s < 120.0
        assert all(getattr(r, key) is not None and math.isfinite(getattr(r, key)) for key in WELD_RESULT_KEYS)
        assert r.arc_energy_kJ > 0.0 and r.mean_travel_speed_mm_s == pytest.approx(config.procedure.travel_speed_mm_s)
        assert (r.weld_policy, r.feed_policy) == ("fixed_recipe", "fixed_rate")
        assert r.backends == dict.fromkeys(("robot", "welder", "machine", "feeder"), "twin")
        assert r.config_hash == config.config_hash
    states = [detail for _, kind, _, detail in events if kind == "state"]
    assert states[0].startswith("Starting -> Execute") and states[-1].startswith("Completing -> Complete")


def test_a_simulated_shift_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    config = load_cell(private_cell_file(tmp_path, "sim", learned_policies))
    runs = [shift(tmp_path / name, config)[0] for name in ("first", "second")]
    for a, b in zip(*runs):
        assert (a.part_id, a.outcome, a.iso5817_level, a.imperfections) == \
            (b.part_id, b.outcome, b.iso5817_level, b.imperfections)
        assert a.cycle_time_s == pytest.approx(b.cycle_time_s, abs=1e-5)
        for key in WELD_RESULT_KEYS:
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-9), key
    assert {(r.weld_policy, r.feed_policy) for r in runs[0]} == {("learned_weld", "learned_feed")}
