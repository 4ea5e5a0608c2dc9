"""The twin's device models (TwinCell) as plain state machines, stepped in-process on a real CellWorld.

Nothing here depends on the seam's geometry: a weld is run to completion and only its
bookkeeping (counter, part id, level) and the robot's kinematic limits are checked.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.sim.devices.models import (
    ACCEPTED,
    CLAMP_S,
    FEED_TO_FIXTURE_S,
    JAM_CLEAR_S,
    MACHINE_CYCLE_SPREAD,
    TwinCell,
)
from cell_controller.sim.twin.world import CellWorld
from cell_controller.testing import REPO

DT = 0.05
LEVELS = ("B", "C", "D", "fail")
#: cell time bound for one weld (approach + seam at the procedure's travel speed + retract), s
WELD_BOUND_S = 600.0


@pytest.fixture(scope="module")
def config() -> CellConfig:
    return load_cell(REPO / "config/cell.yaml")


@pytest.fixture
def cell(config: CellConfig) -> Iterator[TwinCell]:
    with CellWorld(seed=config.seed) as world:
        yield TwinCell(config, world)


def step_until(cell: TwinCell, done: Callable[[], bool], bound_s: float, dt: float = DT) -> float:
    """Step until `done()`; the cell time it took. Fails after `bound_s` of cell time."""
    start = cell.time_s
    for _ in range(int(math.ceil(bound_s / dt))):
        if done():
            return cell.time_s - start
        cell.step(dt)
    assert done(), f"not done within {bound_s} s of cell time"
    return cell.time_s - start


def idle_feeder(cell: TwinCell) -> Callable[[], bool]:
    return lambda: cell.feeder.busy_s <= 0.0


def fill_buffer(cell: TwinCell, n: int) -> None:
    """Release `n` blanks and step until all of them are in the buffer."""
    for _ in range(n):
        step_until(cell, lambda: cell.feeder.release_blank() == ACCEPTED, 10.0)
    step_until(cell, lambda: len(cell.feeder.buffer) == n, 30.0)


def clamp_part(cell: TwinCell, part_id: str) -> None:
    """A blank from the belt, fed as `part_id` and clamped in the fixture."""
    fill_buffer(cell, 1)
    assert cell.feeder.feed_part(part_id) == ACCEPTED
    step_until(cell, lambda: cell.feeder.fixture_part == part_id, FEED_TO_FIXTURE_S + 2 * DT)
    assert cell.feeder.clamp() == ACCEPTED
    step_until(cell, lambda: cell.feeder.clamped, CLAMP_S + 2 * DT)


def status(result: str) -> str:
    return result.partition(":")[0]


# -- conveyor and buffer -------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [0.02, 0.1])
def test_blank_reaches_buffer_after_belt_length_over_speed(cell: TwinCell, dt: float) -> None:
    feeder = cell.feeder
    assert feeder.release_blank() == ACCEPTED
    assert feeder.on_conveyor and not feeder.buffer
    expected_s = cell.world.conveyor_length_mm / feeder.conveyor_speed_setpoint_mm_s
    took_s = step_until(cell, lambda: len(feeder.buffer) == 1, 2 * expected_s, dt)
    assert abs(took_s - expected_s) <= dt + 1e-9
    assert list(feeder.buffer) == ["blank-1"] and not feeder.on_conveyor
    assert cell.world.part_station("blank-1") == "conveyor"  # waits at the belt's end until fed


def test_blanks_keep_their_pitch_and_the_belt_start_must_be_free(cell: TwinCell) -> None:
    feeder = cell.feeder
    assert feeder.release_blank() == ACCEPTED
    assert status(feeder.release_blank()) == "Busy"  # the first blank still occupies the belt start
    assert feeder.blanks_released == 1
    step_until(cell, lambda: feeder.release_blank() == ACCEPTED, 5.0)
    assert feeder.on_conveyor[0][1] - feeder.on_conveyor[1][1] >= cell.blank_pitch_mm - 1e-9


def test_feed_part_rejected_with_empty_buffer(cell: TwinCell) -> None:
    assert status(cell.feeder.feed_part("p1")) == "NotReady"
    assert status(cell.feeder.clamp()) == "NotReady"  # nothing to clamp either
    cell.step(DT)
    assert cell.feeder.fixture_part == "" and cell.feeder.state == "idle"


def test_feed_part_rejected_while_fixture_occupied(cell: TwinCell) -> None:
    fill_buffer(cell, 2)
    assert cell.feeder.feed_part("p1") == ACCEPTED
    assert status(cell.feeder.feed_part("p2")) == "Busy"  # the first transfer is still running
    step_until(cell, lambda: cell.feeder.fixture_part == "p1", FEED_TO_FIXTURE_S + 2 * DT)
    assert status(cell.feeder.feed_part("p2")) == "NotReady"
    assert len(cell.feeder.buffer) == 1 and "p1" in cell.parts and "p2" not in cell.parts


def test_feed_takes_the_handling_time_and_renames_the_blank(cell: TwinCell) -> None:
    fill_buffer(cell, 1)
    assert cell.feeder.feed_part("p1") == ACCEPTED
    assert cell.feeder.state == "busy"
    took_s = step_until(cell, lambda: cell.feeder.fixture_part == "p1", 2 * FEED_TO_FIXTURE_S)
    assert abs(took_s - FEED_TO_FIXTURE_S) <= DT + 1e-9
    assert "blank-1" not in cell.parts and cell.parts["p1"].body == "blank-1"
    assert cell.world.part_station("blank-1") == "fixture"
    assert not cell.feeder.buffer and cell.feeder.state == "idle"


# -- a whole part ----------------------------------------------------------------------------------

def test_whole_part_from_release_to_outfeed(cell: TwinCell, config: CellConfig) -> None:
    feeder, robot, welder, machine = cell.feeder, cell.robot, cell.welder, cell.machine
    clamp_part(cell, "p1")
    assert welder.result_counter == 0 and welder.last_report is None

    assert robot.start_program("weld_seam", "p1") == ACCEPTED
    assert robot.state == "running" and robot.part_id == "p1"
    saw_arc = False

    def weld_done() -> bool:
        nonlocal saw_arc
        saw_arc |= welder.arc_on
        return robot.state == "done"
    step_until(cell, weld_done, WELD_BOUND_S)
    assert saw_arc and not welder.arc_on and welder.state == "idle"
    assert welder.result_counter == 1 and welder.last_part_id == "p1"
    assert welder.last_report is not None and welder.last_report.level in LEVELS
    assert robot.progress == pytest.approx(1.0)
    np.testing.assert_allclose(cell.world.joint_positions_rad(), cell.world.home_rad, atol=1e-6)

    assert feeder.unclamp() == ACCEPTED
    step_until(cell, lambda: not feeder.clamped, CLAMP_S + 2 * DT)
    assert feeder.transfer_to_machine() == ACCEPTED
    step_until(cell, lambda: machine.part_id == "p1", 5.0)
    assert feeder.fixture_part == "" and cell.world.part_station("blank-1") == "machine"
    step_until(cell, idle_feeder(cell), 1.0)

    assert machine.start_cycle("p1") == ACCEPTED
    assert status(feeder.release()) == "NotReady"  # the machine's cycle runs
    assert machine.state == "running"
    low, high = (config.machine_cycle_s * (1 + s * MACHINE_CYCLE_SPREAD) for s in (-1, 1))
    assert low <= machine.cycle_time_s <= high
    took_s = step_until(cell, lambda: machine.state == "ended", 2 * high)
    assert abs(took_s - machine.cycle_time_s) <= DT + 1e-9
    assert machine.parts_completed == 1 and machine.program_state == "Ended"

    assert feeder.release() == ACCEPTED
    step_until(cell, lambda: feeder.outfeed_count == 1, 5.0)
    assert machine.part_id == "" and machine.state == "idle"
    assert cell.parts == {} and cell.world.part_ids() == ()


def test_start_program_rejected_when_not_clamped_or_running(cell: TwinCell) -> None:
    robot = cell.robot
    assert status(robot.start_program("weld_seam", "p1")) == "NotReady"  # empty fixture
    fill_buffer(cell, 1)
    assert cell.feeder.feed_part("p1") == ACCEPTED
    step_until(cell, lambda: cell.feeder.fixture_part == "p1", 5.0)
    assert status(robot.start_program("weld_seam", "p1")) == "NotReady"  # in the fixture, not clamped
    assert cell.feeder.clamp() == ACCEPTED
    step_until(cell, lambda: cell.feeder.clamped, 5.0)
    assert status(robot.start_program("weld_seam", "other")) == "NotReady"  # not the clamped part
    assert status(robot.start_program("grind", "p1")) == "InvalidArgument"
    assert robot.state == "idle"

    assert robot.start_program("weld_seam", "p1") == ACCEPTED
    cell.step(DT)
    assert status(robot.start_program("weld_seam", "p1")) == "Busy"
    assert robot.state == "running"


def test_unclamp_rejected_while_the_robot_welds(cell: TwinCell) -> None:
    clamp_part(cell, "p1")
    assert cell.robot.start_program("weld_seam", "p1") == ACCEPTED
    step_until(cell, lambda: cell.welder.arc_on, 60.0)
    assert status(cell.feeder.unclamp()) == "Busy"
    cell.step(DT)
    assert cell.feeder.clamped and cell.feeder.busy_s == 0.0


def test_stop_program_ends_the_arc_and_frees_the_robot(cell: TwinCell) -> None:
    clamp_part(cell, "p1")
    assert cell.robot.start_program("weld_seam", "p1") == ACCEPTED
    step_until(cell, lambda: cell.welder.arc_on, 60.0)
    assert cell.robot.stop_program() == ACCEPTED
    assert not cell.welder.arc_on and cell.robot.state == "idle"
    cell.step(DT)
    assert not cell.robot.joint_velocities_rad_s.any()
    assert cell.feeder.unclamp() == ACCEPTED


def test_arc_start_loads_the_procedure_and_writes_during_the_weld_hold(cell: TwinCell, config: CellConfig) -> None:
    """Job mode: what a policy left at the end of the last seam does not carry into the next one."""
    robot, welder, procedure = cell.robot, cell.welder, config.procedure
    clamp_part(cell, "p1")
    robot.travel_speed_setpoint_mm_s, robot.torch_offset_setpoint_mm = 4.0, 1.5  # left over from a last seam
    welder.voltage_setpoint_V, welder.wire_feed_setpoint_m_min = 19.0, 5.0
    assert robot.start_program("weld_seam", "p1") == ACCEPTED
    step_until(cell, lambda: welder.arc_on, 60.0)
    assert welder.sample is None and not welder.arc_burning  # no current before the first process step
    assert (robot.travel_speed_setpoint_mm_s, robot.torch_offset_setpoint_mm) == (
        procedure.travel_speed_mm_s, procedure.torch_offset_mm)
    assert (welder.voltage_setpoint_V, welder.wire_feed_setpoint_m_min) == (
        procedure.voltage_V, procedure.wire_feed_m_min)

    welder.voltage_setpoint_V, robot.travel_speed_setpoint_mm_s = 22.5, 11.0  # a correction during the weld
    cell.step(DT)
    assert welder.arc_burning and welder.sample.actual_voltage_V == pytest.approx(22.5, abs=1.0)
    assert (welder.voltage_setpoint_V, robot.travel_speed_setpoint_mm_s) == (22.5, 11.0)


# -- jams ------------------------------------------------------------------------------------------

def test_full_buffer_jams_and_recovers(cell: TwinCell, config: CellConfig) -> None:
    feeder = cell.feeder
    capacity = feeder.buffer_capacity
    fill_buffer(cell, capacity)
    assert feeder.release_blank() == ACCEPTED  # one more: it will wait at the belt's end
    step_until(cell, lambda: feeder.on_conveyor[0][1] >= cell.world.conveyor_length_mm, 30.0)
    assert len(feeder.buffer) == capacity and feeder.jam_count == 0

    step_until(cell, lambda: feeder.jam_count == 1, 120.0)  # 0.5 jams/s expected while blocked
    assert feeder.state == "fault" and not feeder.conveyor_running
    assert status(feeder.release_blank()) == "NotReady"
    assert status(feeder.feed_part("p1")) == "NotReady"
    assert feeder.blanks_released == capacity + 1

    took_s = step_until(cell, lambda: feeder.jammed_s <= 0.0, 2 * JAM_CLEAR_S)
    assert JAM_CLEAR_S - DT - 1e-9 <= took_s <= JAM_CLEAR_S + DT + 1e-9
    assert feeder.state == "idle"
    assert feeder.release_blank() == ACCEPTED
    assert len(feeder.buffer) == capacity  # the jam lost no blank


def test_stopped_conveyor_never_jams(cell: TwinCell) -> None:
    feeder = cell.feeder
    fill_buffer(cell, feeder.buffer_capacity)
    assert feeder.release_blank() == ACCEPTED
    step_until(cell, lambda: feeder.on_conveyor[0][1] >= cell.world.conveyor_length_mm, 30.0)
    feeder.conveyor_speed_setpoint_mm_s = 0.0
    for _ in range(int(60.0 / DT)):
        cell.step(DT)
    assert feeder.jam_count == 0 and feeder.state == "idle" and not feeder.conveyor_running


# -- determinism and kinematics --------------------------------------------------------------------

def weld_one_part(config: CellConfig, record: Callable[[TwinCell], None] | None = None):
    with CellWorld(seed=config.seed) as world:
        cell = TwinCell(config, world)
        clamp_part(cell, "p1")
        assert cell.robot.start_program("weld_seam", "p1") == ACCEPTED

        def done() -> bool:
            if record is not None:
                record(cell)
            return cell.robot.state == "done"
        step_until(cell, done, WELD_BOUND_S)
        return cell.welder.last_report, cell.time_s


def test_same_seed_gives_the_same_weld(config: CellConfig) -> None:
    first, t_first = weld_one_part(config)
    second, t_second = weld_one_part(config)
    assert t_first == t_second
    assert first.level == second.level
    assert first.imperfections == second.imperfections
    assert first.arc_energy_J == second.arc_energy_J
    np.testing.assert_array_equal(first.bead_width_mm, second.bead_width_mm)
    np.testing.assert_array_equal(first.penetration_mm, second.penetration_mm)


def test_joint_velocities_zero_when_idle_and_within_limits_while_moving(cell: TwinCell) -> None:
    robot, limit = cell.robot, cell.world.joint_speed_limits_rad_s()
    clamp_part(cell, "p1")  # the robot idles meanwhile
    assert robot.state == "idle" and not robot.joint_velocities_rad_s.any()

    assert robot.start_program("weld_seam", "p1") == ACCEPTED
    q_before, speeds = cell.world.joint_positions_rad(), []
    while robot.state == "running":
        assert cell.time_s < WELD_BOUND_S, "the weld did not end"
        cell.step(DT)
        q_now = cell.world.joint_positions_rad()
        velocity = robot.joint_velocities_rad_s.copy()
        np.testing.assert_allclose(velocity * DT, q_now - q_before, atol=1e-9)  # what the robot really did
        speeds.append(np.abs(velocity))
        q_before = q_now
    assert robot.state == "done"
    speeds_arr = np.array(speeds)
    assert np.all(np.isfinite(speeds_arr)) and speeds_arr.max() > 0.0
    ratio = speeds_arr / limit
    assert ratio.max() <= 1.0 + 1e-6, (
        f"axis {int(ratio.max(axis=0).argmax()) + 1} moved at {ratio.max():.2f} x its speed limit "
        f"at t = {DT * (int(ratio.max(axis=1).argmax()) + 1):.2f} s into the program")

    cell.step(DT)
    assert not robot.joint_velocities_rad_s.any()


# -- shop-floor events: safety chains, the watchdog, the supply, scrap ------------------------------

def test_an_emergency_stop_stops_the_weld_at_once_and_refuses_a_new_one(cell: TwinCell) -> None:
    clamp_part(cell, "p1")
    assert cell.robot.start_program("weld_seam", "p1") == ACCEPTED
    step_until(cell, lambda: cell.robot.progress > 0.1, WELD_BOUND_S)
    assert cell.robot.set_safety(emergency_stop=True) == ACCEPTED
    assert not cell.welder.arc_on and cell.robot.state == "idle"
    assert 0.0 < cell.robot.progress < 1.0  # the seam was left part-way
    assert status(cell.robot.start_program("weld_seam", "p1")) == "NotReady"
    cell.robot.set_safety(emergency_stop=False)
    assert cell.robot.start_program("weld_seam", "p1") == ACCEPTED


def test_an_open_machine_door_interrupts_the_cycle_and_a_mode_switch_blocks_it(cell: TwinCell) -> None:
    machine = cell.machine
    machine.part_id = "p1"
    assert machine.start_cycle("p1") == ACCEPTED
    machine.set_safety(door_open=True)
    assert machine.state == "idle" and machine.program_state == "Aborted" and machine.part_id == "p1"
    assert machine.safety.open == "guard door open"
    assert "door" in machine.start_cycle("p1")
    machine.set_safety(door_open=False)
    assert machine.set_operation_mode("Setup") == ACCEPTED
    assert machine.start_cycle("p1") == "NotReady: the machine is in Setup mode"
    assert status(machine.set_operation_mode("Turbo")) == "InvalidArgument"


def test_a_tripped_watchdog_puts_each_device_in_its_safe_state(cell: TwinCell) -> None:
    clamp_part(cell, "p1")
    assert cell.robot.start_program("weld_seam", "p1") == ACCEPTED
    step_until(cell, lambda: cell.welder.arc_on, WELD_BOUND_S)
    for role in ("robot", "feeder", "machine"):
        cell.trip(role)
    assert not cell.welder.arc_on and cell.robot.state == "idle"
    assert cell.feeder.conveyor_speed_setpoint_mm_s == 0.0
    assert "watchdog" in cell.robot.start_program("weld_seam", "p1")
    assert "watchdog" in cell.feeder.release_blank() and "watchdog" in cell.feeder.unclamp()
    cell.machine.part_id = "p1"
    assert "watchdog" in cell.machine.start_cycle("p1")
    for role in ("robot", "feeder", "machine"):
        cell.untrip(role)
    assert cell.feeder.unclamp() == ACCEPTED and cell.machine.start_cycle("p1") == ACCEPTED


def test_a_cut_supply_refuses_blanks(cell: TwinCell) -> None:
    cell.feeder.supply = False
    assert cell.feeder.release_blank() == "NotReady: no blank at the infeed (supply cut)"
    cell.feeder.supply = True
    assert cell.feeder.release_blank() == ACCEPTED


def test_an_unclamped_part_goes_to_the_reject_bin(cell: TwinCell) -> None:
    clamp_part(cell, "p1")
    assert status(cell.feeder.reject_part()) == "NotReady"  # still clamped
    assert cell.feeder.unclamp() == ACCEPTED
    step_until(cell, idle_feeder(cell), 1.0)
    assert cell.feeder.reject_part() == ACCEPTED
    step_until(cell, lambda: not cell.feeder.fixture_part, 5.0)
    assert cell.feeder.rejected_count == 1 and "p1" not in cell.parts and cell.world.part_ids() == ()


def test_an_unpressed_part_can_be_taken_out_of_the_machine(cell: TwinCell) -> None:
    fill_buffer(cell, 1)
    blank = cell.feeder.buffer[0]
    cell.machine.part_id = "p9"
    cell.parts["p9"] = cell.parts.pop(blank)
    cell.feeder.buffer.clear()
    assert cell.feeder.release() == ACCEPTED
    step_until(cell, lambda: not cell.machine.part_id, 5.0)


@pytest.mark.parametrize("bad_id", ["", "x" * 10_000, "p\x00", "pé"])
def test_devices_refuse_bad_part_ids(cell: TwinCell, bad_id: str) -> None:
    fill_buffer(cell, 1)
    assert status(cell.feeder.feed_part(bad_id)) == "InvalidArgument"
    assert status(cell.robot.start_program("weld_seam", bad_id)) == "InvalidArgument"
    assert status(cell.machine.start_cycle(bad_id)) == "InvalidArgument"
    assert cell.feeder.fixture_part == "" and len(cell.feeder.buffer) == 1
