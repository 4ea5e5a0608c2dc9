"""`cellctl calibrate` on a bag that `cellctl record` recorded of a shift across processes, on a twin that
welds as the `far` plant: the fitted twin predicts the recorded welds to the sensors' noise floor and
recovers the plant's parameters (bench/bench_calibrate.py measures every set with 10 parts)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cell_controller.sim.reality_gap import gap, read_parameters
from cell_controller.testing import private_cell_file, recorded_shift, twin_as_plant

from .conftest import run_cellctl

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_recorded_far_shift_calibrates_the_twin(tmp_path: Path, cell_env) -> None:
    config = private_cell_file(tmp_path, "cal", twin_as_plant(tmp_path, "far"))
    recorded_shift(config, 4, tmp_path / "bag", cell_env)
    done = run_cellctl(["calibrate", "--bag", str(tmp_path / "bag"), "--config", str(config), "-o",
                        str(tmp_path / "fit.yaml")], cell_env, timeout_s=300)
    assert done.returncode == 0, done.stdout + done.stderr
    fit = yaml.safe_load((tmp_path / "fit.yaml").read_text())["calibration"]
    before, after = fit["before"], fit["after"]
    assert fit["welds"] == 4
    assert before["current_excess_A"] > 5 * after["current_excess_A"]
    assert before["pool_width_excess_mm"] > 5 * after["pool_width_excess_mm"]
    truth, fitted = gap("far"), read_parameters(tmp_path / "fit.yaml")
    for name in ("arc_efficiency_factor", "conductivity_factor", "current_factor", "current_sensor_bias_A",
                 "voltage_sensor_bias_V", "tracker_noise_mm"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.1), name
