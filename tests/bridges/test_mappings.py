"""Bridges: Snapshot (what a device reported, checked sample by sample) and the four mappings to the
core's DeviceStatus / WeldResult."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cell_controller.bridges.base import MAX_STRING_CHARS, Snapshot, check_sample
from cell_controller.bridges.feeder import FeederMapping
from cell_controller.bridges.machine import MachineMapping
from cell_controller.bridges.robot import RobotMapping
from cell_controller.bridges.welder import WelderMapping
from cell_controller.core.types import DeviceState, WeldResult
from cell_controller.opcua.address_space import (
    DEVICE_HEARTBEAT, ROBOT_MOTION as MD, ROBOT_SAFETY as SAFETY, ROBOT_TASK as TASK, ROBOT_WELD as WELD, DeviceSpec,
    EnumSpec, VariableSpec, WelderPaths, spec_for,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW = 100.0  # the bridge's monotonic clock, s
STALE = 0.06  # stale bound, s (3 periods at 50 Hz)
EXECUTION = f"{TASK}/ParameterSet/ExecutionState"
PROGRESS = f"{WELD}/WeldProgress"


def plausible(var: VariableSpec) -> Any:
    """A value of the variable's type as the client delivers it (enums as the Int32 index)."""
    if isinstance(var.data_type, EnumSpec):
        return 0
    if var.data_type == "Double":
        assert var.range is not None or not var.is_analog
        return (var.range.low + var.range.high) / 2 if var.range else 1.5
    return {"Boolean": False, "Int32": 1, "UInt32": 1, "String": "x"}[var.data_type]


def encode(var: VariableSpec, value: Any) -> Any:
    """Enum members may be given by name in the tests; the wire carries the index."""
    if isinstance(var.data_type, EnumSpec) and isinstance(value, str):
        return var.data_type.index(value)
    return value


def snapshot_with(spec: DeviceSpec, values: dict[str, Any], stamp: datetime = T0) -> Snapshot:
    """A complete, fresh snapshot: every spec variable with a plausible value, `values` (by path) instead."""
    unknown = set(values) - {v.path for v in spec.variables}
    assert not unknown, f"not in the {spec.kind} spec: {unknown}"
    snap = Snapshot(spec)
    for var in spec.variables:
        value = values[var.path] if var.path in values else plausible(var)
        assert snap.update(var.path, encode(var, value), stamp, True, NOW), var.path
    assert snap.problem(NOW, STALE) is None
    return snap


def status_of(mapping: type, spec: DeviceSpec, snap: Snapshot, now: float = NOW):
    return mapping(spec).status(snap, now, STALE)


@pytest.fixture
def robot_spec() -> DeviceSpec:
    return spec_for("robot")


# -- Snapshot --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf, 1e9, -0.5, "0.5", None, True])
def test_a_bad_sample_is_rejected_counted_and_the_last_good_value_kept(robot_spec: DeviceSpec, bad_value) -> None:
    snap = snapshot_with(robot_spec, {PROGRESS: 0.5})
    assert not snap.update(PROGRESS, bad_value, T0 + timedelta(seconds=1), True, NOW)
    assert snap.rejected == 1 and PROGRESS in snap.last_rejection
    assert snap.get(PROGRESS) == 0.5 and not snap.good(PROGRESS)
    assert snap.stamp_s == T0.timestamp()  # a refused value does not advance the stamp
    # one bad sample does not take the device offline ...
    assert status_of(RobotMapping, robot_spec, snap).state is DeviceState.IDLE
    # ... a path bad for longer than the stale bound makes it stale, naming the path
    snap.update(DEVICE_HEARTBEAT, 7, None, True, NOW + 2 * STALE)
    status = status_of(RobotMapping, robot_spec, snap, NOW + 2 * STALE)
    assert status.state is DeviceState.STALE and PROGRESS in status.detail
    snap.update(PROGRESS, 0.75, T0 + timedelta(seconds=2), True, NOW + 2 * STALE)  # a good value heals the path
    assert snap.good(PROGRESS) and snap.get(PROGRESS) == 0.75
    assert status_of(RobotMapping, robot_spec, snap, NOW + 2 * STALE).state is DeviceState.IDLE


def test_bad_quality_is_a_rejected_sample(robot_spec: DeviceSpec) -> None:
    snap = snapshot_with(robot_spec, {})
    path = f"{MD}/Axes/Axis_3/ParameterSet/ActualPosition"
    assert not snap.update(path, 12.0, T0, False, NOW)  # Bad/Uncertain quality, even with a value
    assert snap.rejected == 1 and "Bad status" in snap.last_rejection and not snap.good(path)


def test_a_device_whose_life_sign_stops_is_stale_and_a_new_beat_makes_it_fresh(robot_spec: DeviceSpec) -> None:
    snap = snapshot_with(robot_spec, {})
    assert status_of(RobotMapping, robot_spec, snap, NOW + STALE * 0.9).state is DeviceState.IDLE
    status = status_of(RobotMapping, robot_spec, snap, NOW + STALE * 1.1)
    assert status.state is DeviceState.STALE and "life-sign" in status.detail
    snap.update(DEVICE_HEARTBEAT, 1, T0, True, NOW + STALE)  # the same counter value: not a new beat
    assert status_of(RobotMapping, robot_spec, snap, NOW + STALE * 1.1).state is DeviceState.STALE
    snap.update(DEVICE_HEARTBEAT, 2, T0, True, NOW + STALE)
    assert status_of(RobotMapping, robot_spec, snap, NOW + STALE * 1.1).state is DeviceState.IDLE


def test_an_incomplete_snapshot_is_offline_naming_a_missing_path(robot_spec: DeviceSpec) -> None:
    snap = Snapshot(robot_spec)
    status = status_of(RobotMapping, robot_spec, snap)
    assert status.state is DeviceState.OFFLINE
    assert status.detail.startswith(f"no value yet for {robot_spec.variables[0].path}")
    assert f"(+{len(robot_spec.variables) - 1})" in status.detail
    full = snapshot_with(robot_spec, {})
    full.clear()  # the link is lost: nothing stale is kept
    assert status_of(RobotMapping, robot_spec, full).state is DeviceState.OFFLINE and full.values == {}


def test_enum_indexes_map_to_member_names(robot_spec: DeviceSpec) -> None:
    enum = robot_spec.variable(EXECUTION).data_type
    assert isinstance(enum, EnumSpec)
    snap = snapshot_with(robot_spec, {})
    for index, name in enumerate(enum.values):
        snap.update(EXECUTION, index, T0, True, NOW)
        assert snap.get(EXECUTION) == name


@pytest.mark.parametrize("spec_kind, mapping, path", [
    ("robot", RobotMapping, EXECUTION), ("feeder", FeederMapping, "Feeder/State"),
    ("press", MachineMapping, "Machine/Monitoring/MachineState"), ("welder", WelderMapping, "JoiningSystem/State")])
@pytest.mark.parametrize("index", [-1, 5, 99])
def test_an_unknown_enum_member_is_rejected_and_never_crashes_a_mapping(spec_kind, mapping, path, index) -> None:
    spec = spec_for(spec_kind)
    snap = snapshot_with(spec, {})
    assert not snap.update(path, index, T0, True, NOW)
    assert status_of(mapping, spec, snap).state is not DeviceState.STALE  # one sample: kept the last member
    snap.update(DEVICE_HEARTBEAT, 9, None, True, NOW + 2 * STALE)
    status = status_of(mapping, spec, snap, NOW + 2 * STALE)
    assert status.state is DeviceState.STALE and path in status.detail


def test_stamp_is_the_newest_source_timestamp(robot_spec: DeviceSpec) -> None:
    snap = Snapshot(robot_spec)
    snap.update(PROGRESS, 0.1, T0 + timedelta(seconds=5), True, NOW)
    snap.update(PROGRESS, 0.2, T0 + timedelta(seconds=3), True, NOW)  # late delivery of an older value
    assert snap.stamp_s == (T0 + timedelta(seconds=5)).timestamp()
    snap.update(PROGRESS, 0.3, None, True, NOW)
    assert snap.stamp_s == (T0 + timedelta(seconds=5)).timestamp()
    snap.update(PROGRESS, 0.4, T0 + timedelta(seconds=7.25), True, NOW)
    assert snap.stamp_s == (T0 + timedelta(seconds=7.25)).timestamp()
    assert snap.get(PROGRESS) == 0.4


_ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                       st.text(max_size=40), st.text(min_size=MAX_STRING_CHARS + 1, max_size=MAX_STRING_CHARS + 2),
                       st.lists(st.integers(), max_size=3), st.binary(max_size=5))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["robot", "welder", "press", "feeder"]), data=st.data())
def test_property_only_values_that_fit_the_spec_are_taken_and_no_status_ever_raises(kind: str, data) -> None:
    spec = spec_for(kind)
    mapping = {"robot": RobotMapping, "welder": WelderMapping, "press": MachineMapping, "feeder": FeederMapping}[kind]
    snap = snapshot_with(spec, {})
    for _ in range(data.draw(st.integers(1, 30))):
        var = data.draw(st.sampled_from(spec.variables))
        value = data.draw(_ANY_VALUE)
        good = data.draw(st.booleans())
        before = snap.get(var.path)
        taken = snap.update(var.path, value, T0, good, NOW)
        assert taken == (good and check_sample(var, value)[0])
        if taken:
            kept = snap.get(var.path)
            if var.data_type == "Double":
                assert math.isfinite(kept) and (var.range is None or var.range.low <= kept <= var.range.high)
            elif isinstance(var.data_type, EnumSpec):
                assert kept in var.data_type.values
        else:
            assert snap.get(var.path) == before  # the last good value stays
        status = status_of(mapping, spec, snap)  # never raises, whatever came in
        assert status.state in DeviceState
    if kind == "robot" and snap.good(*RobotMapping.tracker_paths):
        assert all(math.isfinite(x) for x in RobotMapping.tracker(snap))
    if kind == "welder" and snap.good(*WelderMapping.process_paths):
        assert all(math.isfinite(x) for x in WelderMapping.process(snap))


# -- robot -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("execution, state, sequence", [
    ("Idle", DeviceState.IDLE, "idle"),
    ("Running", DeviceState.BUSY, "running"),
    ("Completed", DeviceState.DONE, "done"),
    ("Stopped", DeviceState.IDLE, "idle"),
    ("Fault", DeviceState.FAULT, "fault"),
])
def test_robot_status(robot_spec: DeviceSpec, execution: str, state: DeviceState, sequence: str) -> None:
    snap = snapshot_with(robot_spec, {
        EXECUTION: execution, f"{WELD}/PartId": "p7", PROGRESS: 0.4567,
        f"{TASK}/ParameterSet/TaskProgramName": "weld_seam",
    }, T0 + timedelta(seconds=1.5))
    status = status_of(RobotMapping, robot_spec, snap)
    assert (status.device, status.state, status.part_id, status.detail) == ("robot", state, "p7", sequence)
    assert status.values == {"execution": sequence, "program": "weld_seam", "progress": "0.457", "safety": "ok",
                             "watchdog": "ok", "stamp_s": f"{(T0 + timedelta(seconds=1.5)).timestamp():.6f}"}


@pytest.mark.parametrize("stop, safety", [("EmergencyStop", "emergency_stop"), ("ProtectiveStop", "protective_stop")])
@pytest.mark.parametrize("execution", ["Idle", "Running", "Completed"])
def test_an_open_robot_safety_chain_is_reported(robot_spec: DeviceSpec, stop: str, safety: str, execution: str) -> None:
    snap = snapshot_with(robot_spec, {EXECUTION: execution, f"{SAFETY}/{stop}": True})
    status = status_of(RobotMapping, robot_spec, snap)
    assert status.values["safety"] == safety


def test_a_tripped_device_watchdog_is_reported(robot_spec: DeviceSpec) -> None:
    snap = snapshot_with(robot_spec, {"Watchdog/Tripped": True})
    assert status_of(RobotMapping, robot_spec, snap).values["watchdog"] == "tripped"


def test_robot_joints_in_rad_and_tcp_pose_in_m(robot_spec: DeviceSpec) -> None:
    positions_deg = [10.0, -90.0, 45.0, 180.0, -30.0, 359.0]
    speeds_deg_s = [0.0, 57.29577951308232, -90.0, 1.0, 720.0, -720.0]
    values: dict[str, Any] = {}
    for n, (q, dq) in enumerate(zip(positions_deg, speeds_deg_s), start=1):
        values[f"{MD}/Axes/Axis_{n}/ParameterSet/ActualPosition"] = q
        values[f"{MD}/Axes/Axis_{n}/ParameterSet/ActualSpeed"] = dq
    for axis, v in zip("XYZ", (1234.5, -250.0, 0.5)):
        values[f"{MD}/ParameterSet/TcpPosition{axis}"] = v
    for axis, v in zip("xyzw", (0.0, 0.70710678, 0.0, 0.70710678)):
        values[f"{MD}/ParameterSet/TcpOrientationQ{axis}"] = v
    snap = snapshot_with(robot_spec, values)

    position, velocity = RobotMapping.joints(snap)
    assert position == pytest.approx([math.radians(q) for q in positions_deg])
    assert velocity == pytest.approx([math.radians(dq) for dq in speeds_deg_s])
    assert velocity[1] == pytest.approx(1.0)
    assert position[3] == pytest.approx(math.pi)

    xyz, quaternion = RobotMapping.tcp_pose(snap)
    assert xyz == pytest.approx([1.2345, -0.25, 0.0005])
    assert quaternion == pytest.approx([0.0, 0.70710678, 0.0, 0.70710678])


def test_robot_tracker_fields(robot_spec: DeviceSpec) -> None:
    snap = snapshot_with(robot_spec, {f"{WELD}/SeamTracker/Gap": 1.25, f"{WELD}/SeamTracker/SeamOffset": -0.5,
                                      PROGRESS: 0.3, f"{WELD}/TravelSpeedSetpoint": 9.0})
    assert RobotMapping.tracker(snap) == (1.25, -0.5, 0.3, 9.0, T0.timestamp())


# -- machine ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["press", "cnc"])
@pytest.mark.parametrize("machine_state, state, cycle", [
    ("Idle", DeviceState.IDLE, "idle"),
    ("Running", DeviceState.BUSY, "running"),
    ("Ended", DeviceState.DONE, "ended"),
    ("Fault", DeviceState.FAULT, "fault"),
])
def test_machine_status(kind: str, machine_state: str, state: DeviceState, cycle: str) -> None:
    spec = spec_for(kind)
    program = "Machine/Production/ActiveProgram"
    snap = snapshot_with(spec, {"Machine/Monitoring/MachineState": machine_state, f"{program}/PartId": "p3",
                                f"{program}/State": "Running", f"{program}/CycleTime": 6.25,
                                "Machine/Production/PartsCompleted": 4, "Machine/Monitoring/OperationMode": "Setup",
                                "Machine/Safety/DoorOpen": True})
    status = status_of(MachineMapping, spec, snap)
    assert (status.device, status.state, status.part_id, status.detail) == ("machine", state, "p3", cycle)
    assert status.values["cycle"] == cycle
    assert status.values["program_state"] == "Running"
    assert float(status.values["cycle_time_s"]) == 6.25
    assert status.values["parts_completed"] == "4"
    assert status.values["mode"] == "Setup" and status.values["safety"] == "door_open"


# -- feeder ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("feeder_state, state", [
    ("Idle", DeviceState.IDLE), ("Feeding", DeviceState.BUSY), ("Transferring", DeviceState.BUSY),
    ("Jammed", DeviceState.BUSY), ("Fault", DeviceState.FAULT),
])
def test_feeder_status(feeder_state: str, state: DeviceState) -> None:
    spec = spec_for("feeder")
    snap = snapshot_with(spec, {"Feeder/State": feeder_state, "Feeder/Fixture/PartId": "p9",
                                "Feeder/Fixture/Clamped": True, "Feeder/Buffer/Count": 2,
                                "Feeder/Buffer/Capacity": 3, "Feeder/Outfeed/Count": 5, "Feeder/JamCount": 1,
                                "Feeder/Conveyor/Speed": 250.0, "Feeder/Infeed/TimeSinceRelease": 12.5,
                                "Feeder/Infeed/BlanksReleased": 8})
    status = status_of(FeederMapping, spec, snap)
    assert (status.device, status.state, status.part_id, status.detail) == ("feeder", state, "p9", feeder_state)
    v = status.values
    assert v["jammed"] == ("1" if feeder_state == "Jammed" else "0")
    assert (v["fixture_part"], v["clamped"], v["buffer_count"], v["buffer_capacity"]) == ("p9", "1", "2", "3")
    assert (v["outfeed_count"], v["jam_count"], v["blanks_released"]) == ("5", "1", "8")
    assert float(v["conveyor_speed_mm_s"]) == 250.0 and float(v["time_since_release_s"]) == 12.5


def test_feeder_unclamped_empty_fixture() -> None:
    spec = spec_for("feeder")
    snap = snapshot_with(spec, {"Feeder/State": "Idle", "Feeder/Fixture/PartId": "", "Feeder/Fixture/Clamped": False,
                                "Feeder/Buffer/Count": 0})
    status = status_of(FeederMapping, spec, snap)
    assert status.part_id == "" and status.values["fixture_part"] == ""
    assert status.values["clamped"] == "0" and status.values["buffer_count"] == "0"


# -- welder ----------------------------------------------------------------------------------------

RESULT_VALUES = {
    WelderPaths.RESULT_PART_ID: "p4", WelderPaths.RESULT_ARC_ENERGY: 41.5, WelderPaths.RESULT_WELD_TIME: 20.0,
    WelderPaths.RESULT_BEAD_WIDTH: 7.25, WelderPaths.RESULT_PENETRATION: 2.5, WelderPaths.RESULT_MEAN_CURRENT: 231.0,
    WelderPaths.RESULT_MEAN_VOLTAGE: 24.1, WelderPaths.RESULT_MEAN_WIRE_FEED_SPEED: 8.0,
    WelderPaths.RESULT_MEAN_TRAVEL_SPEED: 10.0, WelderPaths.RESULT_IMPERFECTIONS: "undercut,porosity",
    WelderPaths.RESULT_QUALITY_LEVEL: "C",
}


def test_welder_has_no_result_before_the_first_weld() -> None:
    spec = spec_for("welder")
    snap = snapshot_with(spec, {**RESULT_VALUES, WelderPaths.RESULT_COUNTER: 0, WelderPaths.RESULT_PART_ID: "",
                                "JoiningSystem/State": "Idle"})
    assert WelderMapping.last_result(snap) is None
    status = status_of(WelderMapping, spec, snap)
    assert status.state is DeviceState.IDLE and status.part_id == ""
    assert set(status.values) == {"arc_on", "result_counter", "stamp_s", "watchdog"}
    assert status.values["result_counter"] == "0"


@pytest.mark.parametrize("welder_state, state", [
    ("Idle", DeviceState.IDLE), ("Welding", DeviceState.BUSY), ("Fault", DeviceState.FAULT)])
def test_welder_status_with_a_result(welder_state: str, state: DeviceState) -> None:
    spec = spec_for("welder")
    snap = snapshot_with(spec, {**RESULT_VALUES, WelderPaths.RESULT_COUNTER: 3, "JoiningSystem/State": welder_state,
                                "JoiningSystem/ActualValues/ArcOn": welder_state == "Welding"})
    status = status_of(WelderMapping, spec, snap)
    assert (status.state, status.part_id, status.detail) == (state, "p4", state.value)
    v = status.values
    assert v["arc_on"] == ("1" if welder_state == "Welding" else "0")
    assert v["result_counter"] == "3" and v["last_part_id"] == "p4"
    assert v["iso5817_level"] == "C" and v["imperfections"] == "undercut,porosity"
    assert float(v["arc_energy_kJ"]) == 41.5 and float(v["penetration_mm"]) == 2.5
    assert WelderMapping.last_result(snap) == WeldResult(
        part_id="p4", arc_energy_kJ=41.5, weld_time_s=20.0, mean_current_A=231.0, mean_voltage_V=24.1,
        mean_wire_feed_m_min=8.0, mean_travel_speed_mm_s=10.0, bead_width_mm=7.25, penetration_mm=2.5,
        imperfections=("undercut", "porosity"), iso5817_level="C")


def test_welder_result_without_imperfections() -> None:
    spec = spec_for("welder")
    snap = snapshot_with(spec, {**RESULT_VALUES, WelderPaths.RESULT_COUNTER: 1, WelderPaths.RESULT_IMPERFECTIONS: "",
                                WelderPaths.RESULT_QUALITY_LEVEL: "B"})
    result = WelderMapping.last_result(snap)
    assert result is not None and result.imperfections == () and result.good


def test_welder_process_tuple() -> None:
    spec = spec_for("welder")
    actual = "JoiningSystem/ActualValues"
    snap = snapshot_with(spec, {f"{actual}/Current": 230.0, f"{actual}/Voltage": 24.0, f"{actual}/WireFeedSpeed": 8.0,
                                f"{actual}/ArcPower": 5520.0, f"{actual}/PoolWidth": 7.0, f"{actual}/ArcOn": True})
    assert WelderMapping.process(snap) == (230.0, 24.0, 8.0, 5520.0, 7.0, 1.0, T0.timestamp())


def test_mapping_commands_name_spec_methods() -> None:
    for mapping, kind in [(RobotMapping, "robot"), (MachineMapping, "press"), (FeederMapping, "feeder")]:
        spec = spec_for(kind)
        assert sorted(mapping.commands.values()) == sorted(m.path for m in spec.methods), kind
