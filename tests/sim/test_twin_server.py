"""The twin's OPC UA servers (TwinServer) on free loopback ports: conformance, setpoints, methods, publishing."""
from __future__ import annotations

import asyncio
import math
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.opcua.address_space import (
    COMMAND_STATUS, CONTROLLER_HEARTBEAT, DEVICE_HEARTBEAT, WATCHDOG_TRIPPED, EnumSpec, spec_for, twin_control_methods,
    with_twin_control,
)
from cell_controller.opcua.checker import check_device_server
from cell_controller.opcua.client import DeviceClient
from cell_controller.sim.devices.models import TwinCell
from cell_controller.sim.devices.twin_server import BINDINGS, TwinServer
from cell_controller.sim.twin.world import CellWorld
from cell_controller.testing import private_cell_file

logging.getLogger("asyncua").setLevel(logging.ERROR)

ROLES = ("robot", "welder", "machine", "feeder")
VOLTAGE = "JoiningSystem/ProcessParameters/VoltageSetpoint"
FEEDER_METHODS = "Feeder/MethodSet"


class Twin:
    """One TwinServer for the whole module (each start builds four OPC UA address spaces: seconds
    of CPU), on one event loop; each test gets a fresh TwinCell on a fresh world behind it."""

    def __init__(self, config: CellConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.world = CellWorld(seed=config.seed)
        self.server = TwinServer(config, TwinCell(config, self.world))
        self.loop.run_until_complete(self.server.start())

    def run(self, body: Callable[[TwinServer], Awaitable[Any]]) -> Any:
        """`await body(twin)` on a fresh cell, everything published as at start-up."""
        self.world.close()
        self.world = CellWorld(seed=self.config.seed)
        twin = self.server
        twin.cell = TwinCell(self.config, self.world)
        twin.published.clear()
        twin._stop = asyncio.Event()

        async def main() -> Any:
            for role in twin.servers:
                await twin.publish(role)
            return await body(twin)
        return self.loop.run_until_complete(main())

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.server.stop_servers())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()
            self.world.close()


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    harness = Twin(load_cell(private_cell_file(tmp_path_factory.mktemp("twin"), "twin",
                                               lambda d: d["twin"].update(time_scale=5))))
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def config(twin: Twin) -> CellConfig:
    return twin.config


def run_twin(twin: Twin, body: Callable[[TwinServer], Awaitable[Any]]) -> Any:
    return twin.run(body)


async def connect(config: CellConfig, role: str) -> DeviceClient:
    device = config.device(role)
    return await DeviceClient.connect(device.endpoint, spec_for(device.kind.value))


def test_every_twin_device_passes_the_conformance_checker(twin: Twin, config: CellConfig) -> None:
    async def body(twin: TwinServer) -> dict[str, list[str]]:
        assert sorted(twin.servers) == sorted(ROLES)
        problems = {}
        for role in ROLES:
            device = config.device(role)
            problems[role] = await check_device_server(device.endpoint, spec_for(device.kind.value))
        return problems

    problems = run_twin(twin, body)
    assert problems == {role: [] for role in ROLES}


def test_bindings_name_only_spec_paths() -> None:
    """Every bound setpoint is a writable spec variable and every bound method a spec method."""
    kinds = {"robot": "robot", "welder": "welder", "machine": "press", "feeder": "feeder"}
    for role, binding in BINDINGS.items():
        spec = spec_for(kinds[role])
        assert all(spec.variable(path).writable for path in binding.setpoints), role
        assert sorted(binding.methods) == sorted(m.path for m in spec.methods + twin_control_methods(role)), role


def test_initial_publish_covers_the_bound_values(twin: Twin, config: CellConfig) -> None:
    async def body(twin: TwinServer) -> None:
        for role in ROLES:
            values = BINDINGS[role].values(twin.cell)
            server = twin.servers[role]
            for path, value in values.items():
                served = server.get_value(path)
                var = server.spec.variable(path)
                expected = var.data_type.index(value) if isinstance(var.data_type, EnumSpec) else value
                assert served == pytest.approx(expected), f"{role} {path}"

    run_twin(twin, body)


def test_client_setpoint_write_reaches_the_model(twin: Twin, config: CellConfig) -> None:
    async def body(twin: TwinServer) -> None:
        welder = twin.cell.welder
        assert welder.voltage_setpoint_V != 26.5
        client = await connect(config, "welder")
        try:
            await client.write(VOLTAGE, 26.5)
            assert welder.voltage_setpoint_V == 26.5
            await client.write("JoiningSystem/ProcessParameters/WireFeedSpeedSetpoint", 9.25)
            assert welder.wire_feed_setpoint_m_min == 9.25
        finally:
            await client.disconnect()
        robot = await connect(config, "robot")
        try:
            await robot.write("MotionDeviceSystem/WeldProcess/TravelSpeedSetpoint", 7.5)
            assert twin.cell.robot.travel_speed_setpoint_mm_s == 7.5
        finally:
            await robot.disconnect()

    run_twin(twin, body)


def test_method_calls_drive_the_model_and_return_command_status(twin: Twin, config: CellConfig) -> None:
    async def body(twin: TwinServer) -> None:
        feeder = twin.cell.feeder
        client = await connect(config, "feeder")
        try:
            assert await client.call(f"{FEEDER_METHODS}/ReleaseBlank") == (COMMAND_STATUS.index("Accepted"), "")
            assert feeder.blanks_released == 1 and len(feeder.on_conveyor) == 1
            # the belt start is still occupied (the loop is not running: no cell time passes)
            assert await client.call(f"{FEEDER_METHODS}/ReleaseBlank") == (COMMAND_STATUS.index("Busy"),
                                                                           "the belt start is occupied")
            assert await client.call(f"{FEEDER_METHODS}/FeedPart", "p1") == (COMMAND_STATUS.index("NotReady"),
                                                                              "the buffer is empty")
            assert (await client.call(f"{FEEDER_METHODS}/FeedPart", "p" * 10_000))[0] == \
                COMMAND_STATUS.index("InvalidArgument")
            assert feeder.blanks_released == 1 and feeder.fixture_part == ""
        finally:
            await client.disconnect()
        machine = await connect(config, "machine")
        try:
            assert (await machine.call("Machine/MethodSet/StartCycle", "p1"))[0] == COMMAND_STATUS.index("NotReady")
        finally:
            await machine.disconnect()
        robot = await connect(config, "robot")
        try:
            start = "MotionDeviceSystem/Controllers/Controller_1/TaskControls/TaskControl_1/MethodSet/StartProgram"
            assert (await robot.call(start, "grind", "p1"))[0] == COMMAND_STATUS.index("InvalidArgument")
            assert twin.cell.robot.state == "idle"
        finally:
            await robot.disconnect()

    run_twin(twin, body)


def test_publish_writes_only_changed_values(twin: Twin, config: CellConfig) -> None:
    async def body(twin: TwinServer) -> None:
        writes: list[dict[str, Any]] = []
        server = twin.servers["feeder"]
        original = server.set_values

        async def counting(values: dict[str, Any], source_timestamp: datetime | None = None) -> None:
            writes.append(dict(values))
            await original(values, source_timestamp)
        server.set_values = counting  # type: ignore[method-assign]

        await twin.publish("feeder")
        assert writes == []  # nothing changed since the start-up publish

        twin.cell.feeder.conveyor_speed_setpoint_mm_s = 120.0
        await twin.publish("feeder")
        assert writes == [{"Feeder/Conveyor/SpeedSetpoint": 120.0}]
        assert server.get_value("Feeder/Conveyor/SpeedSetpoint") == 120.0
        await twin.publish("feeder")
        assert len(writes) == 1

        assert twin.cell.feeder.release_blank() == "Accepted"
        await twin.publish("feeder")
        assert set(writes[-1]) == {"Feeder/Conveyor/Speed", "Feeder/Conveyor/Running",
                                   "Feeder/Infeed/TimeSinceRelease", "Feeder/Infeed/BlanksReleased"}
        assert writes[-1]["Feeder/Infeed/BlanksReleased"] == 1
        assert server.get_value("Feeder/Conveyor/Running") is True

    run_twin(twin, body)


def test_run_stamps_values_with_cell_time_at_time_scale(twin: Twin, config: CellConfig) -> None:
    assert config.time_scale > 1.0

    async def body(twin: TwinServer) -> tuple[list[tuple[float, datetime, dict[str, Any]]], float, datetime]:
        stamps: list[tuple[float, datetime, dict[str, Any]]] = []
        server = twin.servers["feeder"]
        original = server.set_values

        async def recording(values: dict[str, Any], source_timestamp: datetime | None = None) -> None:
            stamps.append((time.monotonic(), source_timestamp, dict(values)))
            await original(values, source_timestamp)
        server.set_values = recording  # type: ignore[method-assign]

        assert twin.cell.feeder.release_blank() == "Accepted"  # TimeSinceRelease now changes every publish
        task = asyncio.create_task(twin.run())
        await asyncio.sleep(1.0)
        twin.stop()
        await asyncio.wait_for(task, 5.0)

        client = await connect(config, "feeder")
        try:
            node = client._client.get_node(client._nodeids["Feeder/Infeed/TimeSinceRelease"])
            served = await node.read_data_value()
        finally:
            await client.disconnect()
        assert served.Value.Value == pytest.approx(stamps[-1][2]["Feeder/Infeed/TimeSinceRelease"])
        return stamps, twin.epoch_s + twin.cell.time_s, served.SourceTimestamp

    stamps, end_s, served_stamp = run_twin(twin, body)
    assert len(stamps) >= 5, "the feeder published too rarely"
    assert all(ts is not None for _, ts, _ in stamps)
    cell_s = [ts.timestamp() for _, ts, _ in stamps]
    assert cell_s == sorted(cell_s) and len(set(cell_s)) == len(cell_s)
    assert served_stamp.timestamp() == pytest.approx(cell_s[-1], abs=1e-3)  # the stamp travels to clients
    assert cell_s[-1] <= end_s + 1e-6

    # the stamps are cell time: TimeSinceRelease grows exactly as they do
    since = [v["Feeder/Infeed/TimeSinceRelease"] for _, _, v in stamps]
    for a, b, ta, tb in zip(since, since[1:], cell_s, cell_s[1:]):
        assert b - a == pytest.approx(tb - ta, abs=1e-3)

    # and cell time runs time_scale x faster than wall time (slower only when the machine is loaded)
    wall_s = stamps[-1][0] - stamps[0][0]
    rate = (cell_s[-1] - cell_s[0]) / wall_s
    assert 0.4 * config.time_scale <= rate <= 1.25 * config.time_scale, f"cell/wall rate {rate:.2f}"


def test_a_silent_controller_heartbeat_trips_the_devices_within_a_second(twin: Twin, config: CellConfig) -> None:
    async def body(twin: TwinServer) -> tuple[float, bool, bool]:
        device = config.device("robot")
        client = await DeviceClient.connect(device.endpoint, spec_for("robot"))
        try:
            run = asyncio.create_task(twin.run())
            for beat in range(1, 6):  # the cell's bridge writes the supervisor's heartbeat
                await client.write(CONTROLLER_HEARTBEAT, beat)
                await asyncio.sleep(0.1)
            assert not twin.watchdogs["robot"].tripped
            twin.cell.robot.state = "running"  # as if welding
            silent_at = time.monotonic()
            while not twin.watchdogs["robot"].tripped and time.monotonic() - silent_at < 3.0:
                await asyncio.sleep(0.01)
            tripped_after = time.monotonic() - silent_at
            robot_stopped = twin.cell.robot.state == "idle"
            await asyncio.sleep(0.1)
            served = twin.servers["robot"].get_value(WATCHDOG_TRIPPED)
            await client.write(CONTROLLER_HEARTBEAT, 99)  # the heartbeat comes back
            untripped = not twin.watchdogs["robot"].tripped and "robot" not in twin.cell.tripped
            beats = [twin.servers["robot"].get_value(DEVICE_HEARTBEAT)]
            await asyncio.sleep(0.2)
            beats.append(twin.servers["robot"].get_value(DEVICE_HEARTBEAT))
            twin.stop()
            await asyncio.wait_for(run, 5.0)
        finally:
            await client.disconnect()
        assert served is True and untripped and beats[1] > beats[0]
        return tripped_after, robot_stopped, twin.watchdogs["feeder"].tripped

    tripped_after, robot_stopped, feeder_tripped = run_twin(twin, body)
    assert tripped_after < 1.0 and robot_stopped
    assert not feeder_tripped, "a watchdog never heard from stays unarmed"


def test_twin_control_methods_stand_for_the_shop_floor(twin: Twin, config: CellConfig) -> None:
    async def body(twin: TwinServer) -> None:
        clients = {}
        for role in ("robot", "machine", "feeder"):
            device = config.device(role)
            clients[role] = await DeviceClient.connect(device.endpoint, with_twin_control(spec_for(device.kind.value), role))
        try:
            assert await clients["robot"].call("TwinControl/SetEmergencyStop", True) == (0, "")
            assert twin.cell.robot.safety.emergency_stop
            await twin.publish("robot")
            assert twin.servers["robot"].get_value(
                "MotionDeviceSystem/SafetyStates/SafetyState_1/ParameterSet/EmergencyStop") is True
            await clients["machine"].call("TwinControl/SetOperationMode", 3)
            assert twin.cell.machine.operation_mode == "Setup"
            await clients["machine"].call("TwinControl/SetDoorOpen", True)
            assert twin.cell.machine.safety.guard_open
            await clients["feeder"].call("TwinControl/SetSupply", False)
            assert not twin.cell.feeder.supply
            plain = await connect(config, "feeder")  # a bridge's client sees no TwinControl
            try:
                assert not any(p.startswith("TwinControl") for p in plain._nodeids)
            finally:
                await plain.disconnect()
        finally:
            for client in clients.values():
                await client.disconnect()

    run_twin(twin, body)


def test_a_command_or_an_event_runs_the_twin_at_real_time_until_the_controller_could_have_reacted(
        twin: Twin, config: CellConfig) -> None:
    from cell_controller.sim.devices.twin_server import REACTION_WINDOW_S

    async def rate_over(twin: TwinServer, wall_s: float) -> float:
        start_cell, start = twin.cell.time_s, time.monotonic()
        await asyncio.sleep(wall_s)
        return (twin.cell.time_s - start_cell) / (time.monotonic() - start)

    async def body(twin: TwinServer) -> tuple[float, float, float, float]:
        client = await connect(config, "feeder")
        run = asyncio.create_task(twin.run())
        try:
            await asyncio.sleep(0.5)
            fast = await rate_over(twin, 0.5)
            await client.call(f"{FEEDER_METHODS}/Clamp")  # a command of the part sequence (refused, even)
            window = await rate_over(twin, REACTION_WINDOW_S * 0.6)
            await asyncio.sleep(REACTION_WINDOW_S)
            after = await rate_over(twin, 0.5)
            await client.call(f"{FEEDER_METHODS}/ReleaseBlank")  # the feeding policy's, not the sequence's
            release = await rate_over(twin, REACTION_WINDOW_S * 0.6)
        finally:
            twin.stop()
            await asyncio.wait_for(run, 5.0)
            await client.disconnect()
        return fast, window, after, release

    fast, window, after, release = run_twin(twin, body)
    scale = config.time_scale
    assert fast > 0.6 * scale and after > 0.6 * scale and release > 0.6 * scale
    assert window < 1.5, f"cell s per wall s in a reaction window: {window:.2f}"


def test_every_setpoint_range_the_devices_take_is_one_the_twin_physics_takes() -> None:
    from cell_controller.sim.physics.weld import PARAMETER_LIMITS

    pairs = {"JoiningSystem/ProcessParameters/VoltageSetpoint": "voltage_V",
             "JoiningSystem/ProcessParameters/WireFeedSpeedSetpoint": "wire_feed_m_min",
             "JoiningSystem/ProcessParameters/GasFlowSetpoint": "gas_flow_l_min",
             "MotionDeviceSystem/WeldProcess/TravelSpeedSetpoint": "travel_speed_mm_s",
             "MotionDeviceSystem/WeldProcess/TorchOffsetSetpoint": "torch_offset_mm"}
    for path, name in pairs.items():
        spec = spec_for("welder" if path.startswith("Joining") else "robot")
        low, high = PARAMETER_LIMITS[name]
        var = spec.variable(path)
        assert var.range is not None and low <= var.range.low and var.range.high <= high, path


def test_a_stranger_writing_nan_or_1e9_volts_during_a_weld_is_refused_and_the_twin_welds_on(
        twin: Twin, config: CellConfig) -> None:
    from asyncua import ua

    async def body(twin: TwinServer) -> tuple[list[int], float, bool]:
        client = await connect(config, "welder")
        node = client._client.get_node(client._nodeids[VOLTAGE])
        run = asyncio.create_task(twin.run())
        codes = []
        try:
            for bad in (math.nan, math.inf, 1e9, -1e9, 39.0):
                try:
                    await node.write_value(ua.DataValue(ua.Variant(bad, ua.VariantType.Double)))
                except ua.UaStatusCodeError as error:
                    codes.append(error.code)
            await asyncio.sleep(0.3)
            alive = not run.done()
        finally:
            twin.stop()
            await asyncio.wait_for(run, 5.0)
            await client.disconnect()
        return codes, twin.cell.welder.voltage_setpoint_V, alive

    codes, voltage, alive = run_twin(twin, body)
    assert codes == [ua.StatusCodes.BadOutOfRange] * 5
    assert voltage == config.procedure.voltage_V and alive
