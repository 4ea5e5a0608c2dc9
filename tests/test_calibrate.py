"""`cellctl calibrate`: the fit recovers a plant's parameters from its welds and cuts the twin's prediction
error; a bag without the topics, too short, or of another cell is refused and nothing is written.

The welds of the fits here are made by the process model itself as the `far` plant (sensor noise on,
the commands of a policy that varies them, reaching the welder a few samples late), the way the plant
process makes them; tests/e2e/test_calibrate.py calibrates from a bag that `cellctl record` recorded of
a shift across processes.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores

from cell_controller.bus.messages import typestore
from cell_controller.calibrate import (
    CalibrationError, NotConverged, RecordedWeld, calibrate, command_delay, current_characteristic, read_welds,
    replay, tracker_noise_mm,
)
from cell_controller.core.config import ConfigError, load_cell
from cell_controller.sim.devices.twin_server import PHYSICS_DT_S
from cell_controller.sim.physics.arc import current_from_wire_feed
from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.weld import WeldProcess
from cell_controller.sim.reality_gap import RealityGap, gap, read_parameters, twin_parameters, write_parameters
from cell_controller.testing import REPO

FAR = gap("far")
#: the samples between a setpoint's answer and the welder applying it
DELAY = 3


def plant_weld(truth: RealityGap, seed: int, *, varied: bool = True) -> RecordedWeld:
    """One weld of joint `seed` on the plant `truth`, as a cell records it: every sample answered with new
    setpoints (a random walk when `varied`, else the procedure's), applied DELAY samples later."""
    rng = np.random.default_rng(seed)
    joint = generate_joint(700_000 + seed)
    process = WeldProcess(joint, seed=seed, gap=truth)
    applied, queue, rows, answers = (24.0, 8.0, 10.0), [], [], []
    t_s = 0.0
    while not process.done:
        sample = process.step(PHYSICS_DT_S, applied[0], applied[1], applied[2], 0.0)
        t_s += PHYSICS_DT_S
        rows.append((t_s, sample.actual_current_A, sample.actual_voltage_V, sample.actual_wire_feed_m_min,
                     sample.pool_width_mm, applied[2], sample.tracker_gap_mm, process.x_mm / joint.length_mm,
                     sample.arc_power_W))
        if varied:
            answer = (float(np.clip(applied[0] + rng.normal(0, 0.3), 20, 28)),
                      float(np.clip(applied[1] + rng.normal(0, 0.2), 6, 10)),
                      float(np.clip(applied[2] + rng.normal(0, 0.2), 7, 12)))
        else:
            answer = (24.0, 8.0, 10.0)
        answers.append((t_s, answer[0], answer[1], 0.0, answer[2]))
        queue.append(answer)
        if len(queue) > DELAY - 1:
            applied = queue.pop(0)
    a = np.array(rows)
    return RecordedWeld(stamp_s=a[:, 0], current_A=a[:, 1], voltage_V=a[:, 2], wire_feed_m_min=a[:, 3],
                        arc_power_W=a[:, 8], pool_width_mm=a[:, 4], travel_speed_mm_s=a[:, 5], tracker_gap_mm=a[:, 6], progress=a[:, 7],
                        answers=np.array(answers))


@pytest.fixture(scope="module")
def far_welds() -> list[RecordedWeld]:
    return [plant_weld(FAR, seed) for seed in (1, 2)]


def test_the_delay_the_current_characteristic_and_the_voltage_bias_come_back_from_the_welds(far_welds) -> None:
    delay, voltage_bias_V = command_delay(far_welds)
    assert delay == DELAY and voltage_bias_V == pytest.approx(FAR.voltage_sensor_bias_V, abs=0.02)
    electrical, unknown = current_characteristic([w.with_delay(delay) for w in far_welds], voltage_bias_V)
    assert unknown == []
    assert electrical["current_factor"] == pytest.approx(FAR.current_factor, rel=0.02)
    assert electrical["current_sensor_bias_A"] == pytest.approx(FAR.current_sensor_bias_A, abs=1.0)
    diameter_mm = 1.2 + electrical["wire_diameter_error_mm"]
    assert diameter_mm == pytest.approx(1.2 + FAR.wire_diameter_error_mm, rel=0.01)
    assert tracker_noise_mm(far_welds) == pytest.approx(FAR.tracker_noise_mm, rel=0.1)


def test_a_fixed_recipe_does_not_tell_the_wire_from_the_current_factor_and_says_so() -> None:
    (weld,) = [plant_weld(FAR, 3, varied=False).with_delay(DELAY)]
    electrical, unknown = current_characteristic([weld], FAR.voltage_sensor_bias_V)
    assert len(unknown) == 1 and unknown[0].startswith("current_factor, wire_diameter_error_mm: the wire feed hardly")
    assert electrical["current_sensor_bias_A"] == pytest.approx(FAR.current_sensor_bias_A, abs=1.0)
    arc_A = electrical["current_factor"] * current_from_wire_feed(8.0, 24.0, 1.2 + electrical["wire_diameter_error_mm"])
    assert arc_A == pytest.approx(FAR.current_factor * current_from_wire_feed(8.0, 24.0, 1.2 + FAR.wire_diameter_error_mm),
                                  rel=0.005)  # the pair gives the arc's current


def test_the_calibrated_twin_predicts_the_far_plant_to_its_noise_floor(far_welds) -> None:
    result = calibrate(far_welds, thermal_fit_welds=2)
    fitted = result.parameters
    for name in ("arc_efficiency_factor", "conductivity_factor", "current_factor"):
        assert getattr(fitted, name) == pytest.approx(getattr(FAR, name), rel=0.03), name
    assert fitted.camera_latency_extra_s == pytest.approx(FAR.camera_latency_extra_s, abs=PHYSICS_DT_S)
    assert (fitted.tracker_bias_mm, fitted.robot_path_error_mm) == (0.0, 0.0)  # not identified: said so
    assert "tracker_bias_mm, robot_path_error_mm" in result.not_identified
    before, after = result.before, result.after
    assert before.current_rmse_A > 5 * after.current_rmse_A
    assert after.current_rmse_A == pytest.approx(3.0, rel=0.1)  # the current sensor's noise (weld_kernel)
    assert after.pool_width_rmse_mm < 0.4 < 1.0 < before.pool_width_rmse_mm
    assert before.pool_width_excess_mm > 5 * after.pool_width_excess_mm
    assert before.current_excess_A > 5 * after.current_excess_A


def test_a_plant_the_parameters_cannot_describe_does_not_converge(far_welds) -> None:
    strange = [replace(w, current_A=w.current_A * 1.6) for w in far_welds]
    with pytest.raises(NotConverged, match="current_sensor_bias_A = 1"):
        calibrate(strange, thermal_fit_welds=1)


def test_a_weld_recorded_past_the_twins_seam_end_is_replayed_to_its_last_sample(far_welds) -> None:
    weld = far_welds[0].with_delay(DELAY)
    later = {k: np.concatenate([getattr(weld, k), getattr(weld, k)[-20:]]) for k in (
        "current_A", "voltage_V", "wire_feed_m_min", "arc_power_W", "pool_width_mm", "travel_speed_mm_s",
        "tracker_gap_mm", "progress", "voltage_cmd_V", "wire_feed_cmd_m_min", "torch_offset_mm")}
    stretched = replace(weld, stamp_s=np.concatenate([weld.stamp_s, weld.stamp_s[-1] + PHYSICS_DT_S * np.arange(1, 21)]),
                        **later)
    (replayed,) = replay([stretched], FAR)
    assert replayed.current_A.shape == (stretched.samples,)
    assert np.all(replayed.current_A[-20:] == replayed.current_A[-21])  # the twin's weld ended: its last values


# -- the bag ------------------------------------------------------------------------------------


def write_bag(folder: Path, topics: dict[str, list[list[float]]]) -> Path:
    """A rosbag2 (MCAP) bag of Float64MultiArray messages on `topics` (name -> the arrays, in order)."""
    store = typestore(Stores.ROS2_HUMBLE)
    Array = store.types["std_msgs/msg/Float64MultiArray"]
    Layout = store.types["std_msgs/msg/MultiArrayLayout"]
    with Writer(folder, version=8, storage_plugin=StoragePlugin.MCAP) as bag:
        for name, arrays in topics.items():
            connection = bag.add_connection(name, "std_msgs/msg/Float64MultiArray", typestore=store)
            for i, values in enumerate(arrays):
                message = Array(layout=Layout(dim=[], data_offset=0), data=np.asarray(values, dtype=float))
                bag.write(connection, i, store.serialize_cdr(message, "std_msgs/msg/Float64MultiArray"))
    return folder


def recorded(weld: RecordedWeld, namespace: str = "/cell") -> dict[str, list[list[float]]]:
    """The topics of a cell that made `weld` (topics.WELD_PROCESS, SEAM_TRACKER and WELD_SETPOINTS fields)."""
    n = weld.samples
    process = [[weld.current_A[i], weld.voltage_V[i], weld.wire_feed_m_min[i], weld.arc_power_W[i],
                weld.pool_width_mm[i], 1.0, weld.stamp_s[i]] for i in range(n)] + [[0, 0, 0, 0, 0, 0.0, weld.stamp_s[-1] + 0.02]]
    tracker = [[weld.tracker_gap_mm[i], 0.0, weld.progress[i], weld.travel_speed_mm_s[i], weld.stamp_s[i]]
               for i in range(n)]
    setpoints = [[a[1], a[2], a[4], a[3], a[0]] for a in weld.answers]
    return {f"{namespace}/welder/process": process, f"{namespace}/robot/seam_tracker": tracker,
            f"{namespace}/weld/setpoints": setpoints}


def cellctl_calibrate(bag: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cell_controller.cli", "calibrate", "--bag", str(bag), *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=600)


def test_a_bag_holds_the_welds_it_recorded(tmp_path: Path, far_welds) -> None:
    bag = write_bag(tmp_path / "bag", recorded(far_welds[0]))
    (weld,) = read_welds(bag, "/cell")
    np.testing.assert_array_equal(weld.current_A, far_welds[0].current_A)
    np.testing.assert_array_equal(weld.answers, far_welds[0].answers)


def test_a_bag_without_the_topics_names_them_and_nothing_is_written(tmp_path: Path, far_welds) -> None:
    topics = recorded(far_welds[0])
    del topics["/cell/weld/setpoints"]
    bag = write_bag(tmp_path / "bag", topics)
    done = cellctl_calibrate(bag)
    assert done.returncode == 2
    assert "no messages on /cell/weld/setpoints" in done.stderr
    assert not (bag / "calibrated.yaml").exists()


def test_a_bag_of_another_cell_is_refused(tmp_path: Path, far_welds) -> None:
    bag = write_bag(tmp_path / "bag", recorded(far_welds[0], "/other_cell"))
    with pytest.raises(CalibrationError, match="recorded from another cell description \\(namespace /cell\\)"):
        read_welds(bag, "/cell")
    short_seam = replace(far_welds[0], travel_speed_mm_s=far_welds[0].travel_speed_mm_s / 2)
    bag = write_bag(tmp_path / "half", recorded(short_seam))
    with pytest.raises(CalibrationError, match="run 100 mm .* seams 200 mm: recorded from another cell"):
        read_welds(bag, "/cell")


def test_a_bag_too_short_to_identify_anything_is_refused(tmp_path: Path, far_welds) -> None:
    weld = far_welds[0]
    short = replace(weld, **{k: getattr(weld, k)[:120] for k in ("stamp_s", "current_A", "voltage_V", "wire_feed_m_min",
                                                                 "pool_width_mm", "travel_speed_mm_s",
                                                                 "tracker_gap_mm", "progress")})
    bag = write_bag(tmp_path / "bag", recorded(short))
    done = cellctl_calibrate(bag, "-o", str(tmp_path / "fit.yaml"))
    assert done.returncode == 2 and "too short to identify anything" in done.stderr
    assert not (tmp_path / "fit.yaml").exists()
    done = cellctl_calibrate(tmp_path / "nothing")
    assert done.returncode == 2 and "not a rosbag2 bag" in done.stderr


def test_a_fit_that_does_not_converge_exits_1_and_writes_nothing(tmp_path: Path, far_welds) -> None:
    strange = replace(far_welds[0], current_A=far_welds[0].current_A * 1.6)
    bag = write_bag(tmp_path / "bag", recorded(strange))
    done = cellctl_calibrate(bag)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nothing written" in done.stderr and not (bag / "calibrated.yaml").exists()


# -- the parameter file ---------------------------------------------------------------------------


def test_a_parameter_file_round_trips_and_names_a_bad_value(tmp_path: Path) -> None:
    file = tmp_path / "plant.yaml"
    write_parameters(file, FAR, {"source": "test"})
    assert read_parameters(file) == FAR
    for body, key in (("reality_gap: {arc_efficiency_factor: 2.0}\n", "reality_gap"),
                      ("reality_gap: {arc_eficiency_factor: 1.0}\n", "reality_gap.arc_eficiency_factor"),
                      ("reality_gap: {current_factor: fast}\n", "reality_gap.current_factor"),
                      ("something: else\n", "reality_gap")):
        file.write_text(body)
        with pytest.raises(ConfigError) as caught:
            read_parameters(file)
        assert caught.value.key == key and str(file) in str(caught.value)


def test_the_twin_welds_as_the_plant_its_description_names(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "config/cell.yaml").read_text())
    assert twin_parameters(load_cell(REPO / "config/cell.yaml")) == RealityGap()
    write_parameters(tmp_path / "far.yaml", FAR, {})
    data["twin"]["parameters"] = "far.yaml"  # relative to the description
    (tmp_path / "cell.yaml").write_text(yaml.safe_dump(data))
    assert twin_parameters(load_cell(tmp_path / "cell.yaml")) == FAR
    data["twin"]["parameters"] = "missing.yaml"
    (tmp_path / "cell.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="twin.parameters: .*missing.yaml: no such file"):
        load_cell(tmp_path / "cell.yaml")


def test_a_damaged_bag_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8}\n")
    with pytest.raises(CalibrationError, match="cannot read the bag"):
        read_welds(tmp_path / "bag", "/cell")
