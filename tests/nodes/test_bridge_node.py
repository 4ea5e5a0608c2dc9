"""BridgeNode on an in-memory bus against a real OPC UA device server on loopback: goals executed once,
answers that never go backwards, setpoints guarded whoever sends them, bad samples rejected and counted,
a stale device and a lost link reported, the supervisor's heartbeat written to the device's watchdog."""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cell_controller.bridge_rig import Bus, Device
from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.shield import SETPOINT_RATE_SLACK
from cell_controller.core.types import DeviceState
from cell_controller.nodes import topics
from cell_controller.nodes.bridge import RESUBSCRIBE_AFTER_S, BridgeNode
from cell_controller.opcua.address_space import (
    COMMAND_STATUS,
    CONTROLLER_HEARTBEAT,
    WELDER_ROOT,
)
from cell_controller.opcua.security import make_keys
from cell_controller.opcua.server import ServerSecurity
from cell_controller.opcua.users import Role, add_account, load_accounts
from cell_controller.testing import (
    LinkProxy,
    free_ports,
    private_cell_file,
    real_device_security,
)

VOLTAGE = f"{WELDER_ROOT}/ProcessParameters/VoltageSetpoint"
CURRENT = f"{WELDER_ROOT}/ActualValues/Current"


@pytest.fixture
def config(tmp_path: Path) -> CellConfig:
    """At time scale 5 (one device tick: 0.1 s of cell time), as the setpoint guard's figures below are."""
    return load_cell(private_cell_file(tmp_path, "bridge", lambda d: d["twin"].update(time_scale=5)))


@pytest.fixture
def device(config: CellConfig) -> Iterator[Device]:
    device = Device(config.device("welder").endpoint)
    try:
        yield device
    finally:
        device.close()


@pytest.fixture
def cell(config: CellConfig, device: Device) -> Iterator[tuple[Bus, BridgeNode]]:
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    try:
        assert bus.until(bus.ready), bus.status
        yield bus, bridge
    finally:
        bridge.stop()


def test_a_goal_is_executed_once_and_its_answer_never_goes_back(config: CellConfig) -> None:
    feeder = Device(config.device("feeder").endpoint, "feeder")
    bus = Bus(config, "feeder")
    bridge = BridgeNode(bus.bus.node("feeder_bridge", config.namespace), config, "feeder")
    bridge.start()
    try:
        assert bus.until(bus.ready), bus.status
        bus.command.publish(bus.codec.status("feeder", "clamp", 0, {"id": "s-1"}))
        assert bus.until(lambda: bus.status.get("goal.s-1") == "Accepted")
        for _ in range(5):  # the same id again (a resend, a duplicate): answered again, never executed again
            bus.command.publish(bus.codec.status("feeder", "clamp", 0, {"id": "s-1"}))
            bus.until(lambda: False, 0.05)
            assert bus.status.get("goal.s-1") == "Accepted"
        assert feeder.calls == [("clamp",)]
        bus.command.publish(bus.codec.status("feeder", "feed_part", 0, {"id": "s-2", "arg0": "P1"}))
        assert bus.until(lambda: bus.status.get("goal.s-2", "Pending") != "Pending")
        assert bus.status["goal.s-2"].startswith("Fault")  # FeedPart is not bound on this device: BadNotImplemented
        bus.command.publish(bus.codec.status("feeder", "fly", 0, {"id": "s-3"}))
        assert bus.until(lambda: bus.status.get("goal.s-3") == "InvalidArgument: the feeder has no command 'fly'")
        bus.command.publish(bus.codec.status("feeder", "clamp", 0, {}))  # no id: not a goal, never executed
        bus.until(lambda: False, 0.2)
        assert feeder.calls == [("clamp",)] and bus.status.get("goal.s-1") == "Accepted"
    finally:
        bridge.stop()
        feeder.close()


def test_setpoints_are_clamped_and_rate_limited_at_the_bridge_whoever_sends_them(cell, device: Device,
                                                                                 config: CellConfig) -> None:
    bus, bridge = cell
    device.set({VOLTAGE: 24.0})
    assert bus.until(lambda: bridge.snapshot.get(VOLTAGE) == 24.0)
    high = config.device("welder").limits["voltage"].high
    # a rogue publisher asks for 38 V in one jump: the device never sees more than the limit, nor the jump
    bus.setpoints.publish(bus.codec.array(topics.WELD_SETPOINTS, (38.0, 8.0, 10.0, 0.0, 0.0)))
    assert bus.until(lambda: any(p == VOLTAGE for p, _ in device.written))
    written = [v for p, v in device.written if p == VOLTAGE]
    assert all(v <= high for v in written)
    rate = config.policies.rate_limits_per_s["voltage"]
    tick_s = config.time_scale / config.device("welder").publishing_rate_Hz
    assert written[0] - 24.0 == pytest.approx(SETPOINT_RATE_SLACK * rate * tick_s)
    assert bus.until(lambda: int(bus.status.get("rate_limited_voltage_V", "0")) >= 1, 2.0)  # counted, on the status
    assert int(bus.status.get("clamped_voltage_V", "0")) >= 1
    # non-finite messages never reach the device
    before = len(device.written)
    bus.setpoints.publish(bus.codec.array(topics.WELD_SETPOINTS, (math.nan, 8.0, 10.0, 0.0, 0.0)))
    bus.until(lambda: False, 0.3)
    assert len(device.written) == before


def test_a_bad_sample_is_rejected_counted_and_kept_from_the_policy_and_the_device_stays_up(cell, device) -> None:
    bus, bridge = cell
    device.set({f"{WELDER_ROOT}/ActualValues/ArcOn": True, CURRENT: 230.0})
    assert bus.until(lambda: bus.process and bus.process[-1]["current_A"] == 230.0)
    seen = len(bus.process)
    device.set({CURRENT: math.nan})
    assert bus.until(lambda: bus.status.get("rejected_samples") == "1")
    assert bus.state == "idle", "one bad sample does not take the device offline"
    bus.until(lambda: False, 0.2)
    assert all(math.isfinite(p["current_A"]) for p in bus.process)
    device.set({CURRENT: 1e9})  # outside the EURange
    assert bus.until(lambda: bus.status.get("rejected_samples") == "2")
    assert bus.until(lambda: bus.state == "stale"), "a value bad for longer than the stale bound"
    assert CURRENT in bus.status.get("rejected_samples", "") or bus.status
    device.set({CURRENT: 231.0})
    assert bus.until(lambda: bus.ready() and bus.process[-1]["current_A"] == 231.0)
    assert len(bus.process) > seen


def test_a_device_whose_life_sign_stops_is_reported_stale_within_its_bound(cell, device: Device) -> None:
    bus, bridge = cell
    device.beating = False
    stopped = time.monotonic()
    assert bus.until(lambda: bus.state == "stale", 2.0)
    assert time.monotonic() - stopped < bridge.stale_after_s + 0.25
    device.beating = True
    assert bus.until(bus.ready, 2.0)


def test_a_link_whose_data_stops_while_it_is_up_subscribes_again(cell, device: Device) -> None:
    """As asyncua's restore after a reconnect can leave it: the subscription lives on (keep-alives, so nothing
    looks wrong to the client) but monitors nothing. The device goes stale; the bridge subscribes again."""
    import asyncio

    bus, bridge = cell

    async def empty_the_subscriptions() -> None:
        for sub in bridge.link.client._subscriptions:
            await sub.unsubscribe([item.server_handle for item in sub._monitored_items.values()])
    asyncio.run_coroutine_threadsafe(empty_the_subscriptions(), bridge.loop).result(5)
    emptied = time.monotonic()
    assert bus.until(lambda: bus.state == "stale", 2.0)
    assert bridge.link.connected
    assert bus.until(bus.ready, RESUBSCRIBE_AFTER_S + 5.0), bus.status
    assert time.monotonic() - emptied > RESUBSCRIBE_AFTER_S - 1.0  # not before the device was stale that long


def test_the_supervisors_heartbeat_is_written_to_the_device_watchdog(cell, device: Device) -> None:
    bus, _ = cell
    for beat in (5, 6, 7):
        bus.heartbeat.publish(bus.probe.message(topics.HEARTBEAT.type)(data=beat))
        assert bus.until(lambda: device.value(CONTROLLER_HEARTBEAT) == beat, 2.0)


def test_a_second_heartbeat_writer_feeds_no_watchdog_so_a_dead_supervisor_is_never_kept_alive(cell, device) -> None:
    bus, bridge = cell
    Heartbeat = bus.probe.message(topics.HEARTBEAT.type)
    bus.heartbeat.publish(Heartbeat(data=5))
    assert bus.until(lambda: device.value(CONTROLLER_HEARTBEAT) == 5, 2.0)
    rogue = bus.bus.node("rogue", "/elsewhere")  # any participant: a stranger, or a second supervisor by mistake
    rogue_heartbeat = rogue.create_publisher(topics.HEARTBEAT.type, f"{bus.probe_namespace}/heartbeat",
                                             topics.HEARTBEAT.qos)
    for beat in (6, 7, 8):
        rogue_heartbeat.publish(Heartbeat(data=10**6 + beat))
        bus.heartbeat.publish(Heartbeat(data=beat))
    bus.until(lambda: False, 0.5)
    assert device.value(CONTROLLER_HEARTBEAT) == 5 and bridge.heartbeats_refused == 6
    rogue.shutdown()
    bus.heartbeat.publish(Heartbeat(data=9))
    assert bus.until(lambda: device.value(CONTROLLER_HEARTBEAT) == 9, 2.0)


def test_a_lost_link_is_offline_and_nothing_from_before_it_is_written_after(cell, device: Device, config) -> None:
    bus, bridge = cell
    seen = len(bus.states)
    device.close()
    assert bus.until(lambda: "offline" in bus.states[seen:], 5.0), bus.states[seen:]
    bus.setpoints.publish(bus.codec.array(topics.WELD_SETPOINTS, (25.0, 8.0, 10.0, 0.0, 0.0)))
    bus.until(lambda: False, 0.3)
    assert bridge.pending_writes == {} or all(p != VOLTAGE for p in bridge.pending_writes)
    revived = Device(config.device("welder").endpoint)
    try:
        assert bus.until(bus.ready, 15.0)
        assert all(p != VOLTAGE for p, _ in revived.written), "a setpoint from the gap was written after it"
    finally:
        bridge.stop()
        revived.close()


def test_a_black_holed_link_is_noticed_within_1_s_and_no_status_in_the_gap_says_the_device_is_up(
        tmp_path: Path) -> None:
    port = free_ports(1)[0]
    device, proxy = Device(f"opc.tcp://127.0.0.1:{port}"), LinkProxy(port)
    config = load_cell(private_cell_file(tmp_path, "blackhole", lambda d: d["devices"]["welder"].update(
        endpoint=f"opc.tcp://127.0.0.1:{proxy.port}")))
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    try:
        assert bus.until(bus.ready, 15.0), bus.status
        proxy.black_hole()
        cut_at, seen = time.monotonic(), len(bus.states)
        assert bus.until(lambda: bus.state in ("offline", "stale"), 1.0), bus.states[seen:]
        noticed_s = time.monotonic() - cut_at
        gone = len(bus.states)
        bus.until(lambda: False, 3.0)  # the bridge keeps publishing its status: never up from stale data
        assert len(bus.states) - gone >= 5 and set(bus.states[gone:]) <= {"offline", "stale"}, bus.states[gone:]
        proxy.heal()
        assert bus.until(bus.ready, 35.0)
        print(f"black hole noticed after {noticed_s:.2f} s")
    finally:
        bridge.stop()
        device.close()
        proxy.close()


def secured_welder(folder: Path) -> tuple[CellConfig, Device]:
    """A real welder (a DeviceServer) behind SignAndEncrypt and accounts, trusting the cell's certificate,
    and the description that connects to it with the cell's keys, trust list and password file."""
    def real(d: dict[str, Any]) -> None:
        d["twin"]["time_scale"] = 1
        d["devices"]["welder"].update(backend="real", real={
            "endpoint": f"opc.tcp://127.0.0.1:{free_ports(1)[0]}", "security": real_device_security(folder)})
    config = load_cell(private_cell_file(folder, "secured", real))
    pki = folder / "pki"
    (pki / "device-trusts").mkdir()
    (pki / "device-trusts" / "cell_cert.der").write_bytes((pki / "cell" / "cell_cert.der").read_bytes())
    add_account(pki / "accounts.yaml", "cell", Role.OPERATOR, "correct horse")
    security = ServerSecurity(pki / "device" / "cell_cert.der", pki / "device" / "cell_key.pem",
                              trust=pki / "device-trusts")
    return config, Device(config.device("welder").real.endpoint, security=security,
                          accounts=load_accounts(pki / "accounts.yaml"))


def test_a_real_device_is_reached_over_sign_and_encrypt_with_the_descriptions_keys(tmp_path: Path) -> None:
    config, device = secured_welder(tmp_path)
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    try:
        assert bus.until(bus.ready, 15.0), bus.status
        device.set({VOLTAGE: 24.0})
        assert bus.until(lambda: bridge.snapshot.get(VOLTAGE) == 24.0)
        bus.setpoints.publish(bus.codec.array(topics.WELD_SETPOINTS, (24.5, 8.0, 10.0, 0.0, 0.0)))
        assert bus.until(lambda: any(p == VOLTAGE for p, _ in device.written)), "the cell's operator account writes"
    finally:
        bridge.stop()
        device.close()


def test_a_device_whose_certificate_the_cell_does_not_trust_stays_offline(tmp_path: Path) -> None:
    config, device = secured_welder(tmp_path)
    trusted = Path(config.device("welder").real.security.trust)
    for path in trusted.iterdir():  # the cell now trusts another device's certificate only
        path.unlink()
    make_keys(tmp_path / "other", "other")
    (trusted / "other.der").write_bytes((tmp_path / "other" / "cell_cert.der").read_bytes())
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    try:
        assert not bus.until(bus.ready, 5.0)
        assert bus.state == "offline" and device.written == []
    finally:
        bridge.stop()
        device.close()


def test_command_status_names_are_the_address_spaces() -> None:
    assert COMMAND_STATUS.values[0] == "Accepted" and DeviceState.STALE.value == "stale"
