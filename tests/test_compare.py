"""`cellctl compare`: verdicts against the plant targets, ratio intervals that cover what they should, and the
command itself on a few parts of each cell (in process: cell_controller/cell_sim.py)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cell_controller.cli import EXIT_BAD_INPUT, main
from cell_controller.compare import RESAMPLED, TARGETS, Target, difference_interval, ratio_interval
from cell_controller.testing import private_cell_file


def test_a_target_is_met_only_when_the_whole_interval_is_on_its_side() -> None:
    more = Target("good parts per hour", 1.30, True)
    assert (more.verdict(1.35, 1.6), more.verdict(1.2, 1.4), more.verdict(1.0, 1.2)) == ("met", "unsure", "missed")
    less = Target("cost per good part", 0.80, False)
    assert (less.verdict(0.6, 0.79), less.verdict(0.7, 0.9), less.verdict(0.85, 0.9)) == ("met", "unsure", "missed")
    assert less.verdict(math.nan, 0.5) == "unsure"
    assert {t.name for t in TARGETS} <= set(RESAMPLED)


def _cells(good_share: float, cycle_s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """`_part_figures` rows of n produced parts: good with probability `good_share`, cycles around `cycle_s`."""
    good = rng.binomial(1, good_share, n).astype(float)
    cycles = rng.normal(cycle_s, 1.0, n)
    return np.column_stack([good, np.ones(n), cycles, 1.0 - good, np.full(n, 0.05), np.full(n, 5.0),
                            np.full(n, 150.0)])


def test_the_good_parts_per_hour_interval_covers_the_true_ratio_about_95_times_in_100() -> None:
    """Two cells whose true ratio is known (0.9 vs 0.75 good at 24 vs 30 s: 1.5x); intervals of 200-part
    samples must cover it in most of 40 draws (a percentile bootstrap: about 95 %)."""
    rng = np.random.default_rng(3)
    true_ratio = (0.9 / 24.0) / (0.75 / 30.0)
    covered = 0
    for _ in range(40):
        _, low, high = ratio_interval(_cells(0.75, 30.0, 200, rng), _cells(0.9, 24.0, 200, rng),
                                      RESAMPLED["good parts per hour"])
        covered += low <= true_ratio <= high
    assert covered >= 33  # P(fewer than 34 of 40 at 95 %) < 2 %


def test_a_cell_without_a_bad_weld_still_has_an_interval_wider_than_zero() -> None:
    rng = np.random.default_rng(4)
    ratio, low, high = ratio_interval(_cells(0.75, 30.0, 50, rng), _cells(1.0, 24.0, 50, rng),
                                      RESAMPLED["welds worse than ISO 5817 C"])
    assert 0.0 < low < high < 0.5 and ratio < high


def test_two_samples_of_one_cell_agree_and_a_cell_half_again_as_fast_does_not() -> None:
    """40 parts each: two samples of one cell agree; a cell whose cycle is 16 s instead of 24 s does not."""
    rng = np.random.default_rng(5)
    figure = RESAMPLED["good parts per hour"]
    one, same = _cells(0.9, 24.0, 40, rng), _cells(0.9, 24.0, 40, rng)
    low, high = difference_interval(one, same, figure)
    assert low < 0.0 < high
    low, high = difference_interval(_cells(0.9, 16.0, 40, rng), one, figure)
    assert low > 0.0


def test_compare_runs_both_cells_on_the_same_seeds_and_prints_the_table(tmp_path: Path, capsys) -> None:
    config = private_cell_file(tmp_path, "compare", lambda d: d["twin"].update(time_scale=5))
    out = tmp_path / "compare.md"
    assert main(["compare", "--config", str(config), "--parts", "10", "--out", str(out)]) == 0
    table = out.read_text()
    assert table == capsys.readouterr().out.rstrip("\n") + "\n"
    assert "cell seed 20 (joints 2000001 to 2000010, held out from the welding policy's training joints)" in table
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table.splitlines() if line.startswith("| ")}
    for target in TARGETS:
        verdict = rows[target.name][-1].strip(" |")
        assert verdict in ("met", "unsure", "missed"), rows[target.name]
    baseline, autonomous = float(rows["good parts per hour"][2]), float(rows["good parts per hour"][3])
    assert float(rows["good parts per hour"][4].rstrip("x")) == pytest.approx(autonomous / baseline, abs=0.01)


@pytest.mark.parametrize(("args", "message"), [(["--parts", "3"], "at least 10 parts"),
                                               (["--parts", "20", "--full", "30"], "--full: expected 0..20"),
                                               (["--seed", "-4"], "--seed: expected a cell seed 0..20000")])
def test_compare_refuses_too_few_parts_before_anything_runs(tmp_path: Path, args, message, capsys) -> None:
    config = private_cell_file(tmp_path, "compare")
    assert main(["compare", "--config", str(config), *args]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
