"""DeviceServer + DeviceClient + checker against real loopback servers."""
from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from typing import Any

import pytest
from asyncua import ua

from cell_controller.opcua.address_space import COMMAND_STATUS, robot_spec, spec_for
from cell_controller.opcua.checker import check_device_server
from cell_controller.opcua.client import DeviceClient, DeviceUnreachableError
from cell_controller.opcua.server import DeviceServer

pytestmark = pytest.mark.timeout(30)

TRAVEL = "MotionDeviceSystem/WeldProcess/TravelSpeedSetpoint"
GAP = "MotionDeviceSystem/WeldProcess/SeamTracker/Gap"
START = "MotionDeviceSystem/Controllers/Controller_1/TaskControls/TaskControl_1/MethodSet/StartProgram"


@pytest.mark.parametrize("kind", ["robot", "welder", "press", "cnc", "feeder"])
def test_checker_passes_on_device_server(run_with_server, kind: str) -> None:
    spec = spec_for(kind)
    problems = run_with_server(spec, lambda server: check_device_server(server.endpoint, spec))
    assert problems == []


def test_checker_reports_missing_node(run_with_server) -> None:
    spec = robot_spec()
    broken = dataclasses.replace(spec, variables=tuple(v for v in spec.variables if v.path != GAP))
    problems = run_with_server(broken, lambda server: check_device_server(server.endpoint, spec))
    assert problems == [f"{GAP}: missing"]


def test_subscription_delivers_change_within_100ms(run_with_server) -> None:
    async def body(server: DeviceServer) -> float:
        client = await DeviceClient.connect(server.endpoint, server.spec)
        got: asyncio.Queue[tuple[Any, bool]] = asyncio.Queue()
        await client.subscribe([GAP], 20, lambda path, value, ts, good: got.put_nowait((value, good)))
        assert await asyncio.wait_for(got.get(), 2) == (0.0, True)
        start = time.monotonic()
        await server.set_values({GAP: 1.5, "MotionDeviceSystem/WeldProcess/WeldProgress": 0.25})
        value = await asyncio.wait_for(got.get(), 2)
        elapsed = time.monotonic() - start
        await client.disconnect()
        assert value == (1.5, True)
        return elapsed

    assert run_with_server(robot_spec(), body) < 0.1


def test_client_write_reaches_setpoint_callback(run_with_server) -> None:
    async def body(server: DeviceServer) -> list[tuple[str, Any]]:
        written: list[tuple[str, Any]] = []
        server.on_setpoint_written(lambda path, value: written.append((path, value)))
        client = await DeviceClient.connect(server.endpoint, server.spec)
        await client.write(TRAVEL, 12.5)
        assert (await client.read([TRAVEL]))[TRAVEL] == 12.5
        await server.set_values({GAP: 2.0})  # own writes do not call back
        await client.disconnect()
        return written

    assert run_with_server(robot_spec(), body) == [(TRAVEL, 12.5)]


def test_method_call_reaches_bound_callable(run_with_server) -> None:
    async def body(server: DeviceServer) -> tuple[Any, list[tuple[str, str]]]:
        calls: list[tuple[str, str]] = []

        async def start_program(name: str, part_id: str) -> tuple[int, str]:
            calls.append((name, part_id))
            return (COMMAND_STATUS.index("Accepted"), "") if part_id else (COMMAND_STATUS.index("InvalidArgument"), "no id")

        server.bind_method(START, start_program)
        client = await DeviceClient.connect(server.endpoint, server.spec)
        status = await client.call(START, "seam_a", "P-0001")
        assert await client.call(START, "seam_a", "") == (COMMAND_STATUS.index("InvalidArgument"), "no id")
        with pytest.raises(TypeError):
            await client.call(START, "seam_a")
        await client.disconnect()
        return status, calls

    assert run_with_server(robot_spec(), body) == ((0, ""), [("seam_a", "P-0001"), ("seam_a", "")])


def test_write_rejects_nan_inf_out_of_range_and_read_only(run_with_server) -> None:
    async def body(server: DeviceServer) -> None:
        client = await DeviceClient.connect(server.endpoint, server.spec)
        for bad in (math.nan, math.inf, -math.inf, 1e6):
            with pytest.raises(ValueError, match=TRAVEL):
                await client.write(TRAVEL, bad)
        with pytest.raises(TypeError):
            await client.write(TRAVEL, "fast")
        with pytest.raises(PermissionError):
            await client.write(GAP, 1.0)
        assert (await client.read([TRAVEL]))[TRAVEL] == server.spec.variable(TRAVEL).default
        await client.disconnect()

    run_with_server(robot_spec(), body)


def test_unreachable_endpoint_fails_fast_with_endpoint_named(endpoint: str) -> None:
    start = time.monotonic()
    with pytest.raises(DeviceUnreachableError, match=endpoint):
        asyncio.run(DeviceClient.connect(endpoint, robot_spec(), timeout_s=2.0))
    assert time.monotonic() - start < 3.0


def test_server_restart_gives_bad_then_fresh_values(endpoint: str) -> None:
    async def main() -> None:
        spec = robot_spec()
        server = await DeviceServer.start(spec, endpoint, "restart")
        await server.set_values({GAP: 1.0})
        client = await DeviceClient.connect(endpoint, spec)
        got: asyncio.Queue[tuple[Any, bool]] = asyncio.Queue()
        await client.subscribe([GAP], 20, lambda path, value, ts, good: got.put_nowait((value, good)))
        assert await asyncio.wait_for(got.get(), 2) == (1.0, True)

        await server.stop()
        assert await asyncio.wait_for(got.get(), 2) == (None, False)
        server = await DeviceServer.start(spec, endpoint, "restart")
        await server.set_values({GAP: 3.0})
        start = time.monotonic()
        assert await asyncio.wait_for(got.get(), 5) == (3.0, True)
        await server.set_values({GAP: 4.0})  # the subscription itself was recreated
        while (value := await asyncio.wait_for(got.get(), 2)) != (4.0, True):
            assert value == (3.0, True)
        assert time.monotonic() - start < 5.0
        await client.disconnect()
        await server.stop()

    asyncio.run(main())


def test_a_client_write_no_real_device_would_take_is_refused_by_the_server(run_with_server) -> None:
    """Whatever client writes: NaN, +-Inf, out of EURange, another type: BadOutOfRange / BadTypeMismatch,
    the value stays, no setpoint callback runs; the server's own writes are not checked."""
    async def body(server: DeviceServer) -> list[tuple[str, Any]]:
        written: list[tuple[str, Any]] = []
        server.on_setpoint_written(lambda path, value: written.append((path, value)))
        client = await DeviceClient.connect(server.endpoint, server.spec)
        node = client._client.get_node(client._nodeids[TRAVEL])
        try:
            for bad, code in [(ua.Variant(math.nan, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
                              (ua.Variant(math.inf, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
                              (ua.Variant(-math.inf, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
                              (ua.Variant(1e9, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
                              (ua.Variant("fast", ua.VariantType.String), ua.StatusCodes.BadTypeMismatch),
                              (ua.Variant(12, ua.VariantType.Int32), ua.StatusCodes.BadTypeMismatch)]:
                with pytest.raises(ua.UaStatusCodeError) as refused:
                    await node.write_value(ua.DataValue(bad))
                assert refused.value.code == code, bad
            await node.write_value(ua.DataValue(ua.Variant(12.5, ua.VariantType.Double)))
            assert (await client.read([TRAVEL]))[TRAVEL] == 12.5
        finally:
            await client.disconnect()
        await server.set_values({GAP: 9.5})  # the device's own value, unchecked on its way in
        return written

    assert run_with_server(robot_spec(), body) == [(TRAVEL, 12.5)]
