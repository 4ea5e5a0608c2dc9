"""A bridge's lifecycle and backend swaps against real OPC UA servers on loopback: the twin's (our address
space, unsecured) and a "real" welder that serves a vendor's address space (Acme's browse names and units,
through config/mappings/welder_acme.yaml) behind SignAndEncrypt and accounts.

Inactive writes nothing; twin -> shadow -> real -> twin moves make-before-break, with the setpoints carried
over; in shadow the twin gets every setpoint and the divergence twin − real is published; a swap to a down
endpoint, another identity or a server the mapping does not fit is refused and the old backend drives on."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cell_controller.bridge_rig import (
    PLANT_URI,
    Bus,
    Device,
    cell_with_real_welder,
    real_welder,
)
from cell_controller.core.config import CellConfig, load_cell
from cell_controller.nodes import topics
from cell_controller.nodes.bridge import BridgeNode
from cell_controller.nodes.codec import Codec
from cell_controller.opcua.address_space import CONTROLLER_HEARTBEAT, WelderPaths
from cell_controller.sim.devices.twin_server import WATCHDOG_TIMEOUT_S
from cell_controller.testing import (
    private_cell_file,
    real_device_security,
)

VOLTAGE = WelderPaths.VOLTAGE_SETPOINT
CURRENT = WelderPaths.ACTUAL_CURRENT


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[CellConfig, Bus, BridgeNode, Device, Device]]:
    config = cell_with_real_welder(tmp_path)
    twin, real = Device(config.device("welder").endpoint), real_welder(config)
    twin.set({CURRENT: 230.0, VOLTAGE: 24.0})
    real.set({CURRENT: 210.0, VOLTAGE: 20.0})
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    try:
        assert bus.until(bus.ready, 15.0), bus.status
        yield config, bus, bridge, twin, real
    finally:
        bridge.stop()
        twin.close()
        real.close()


def swap(bus: Bus, backend: str, timeout_s: float = 10.0) -> tuple[str, float]:
    """Request the swap as the supervisor does; its answer and the time to it, s."""
    started = time.monotonic()
    request = bus.manager.request_swap("welder", backend, started)
    assert bus.until(lambda: request.goal.answer != "", timeout_s), bus.status
    return request.goal.answer, time.monotonic() - started


def set_voltage(bus: Bus, voltage_V: float) -> None:
    """The policy's setpoints (within one tick's rate limit of the device's 24 V)."""
    bus.setpoints.publish(bus.codec.array(topics.WELD_SETPOINTS, (voltage_V, 8.0, 10.0, 0.0, 0.0)))


def written_voltages(device: Device) -> list[float]:
    return [value for path, value in device.written if path == VOLTAGE]


def test_an_inactive_bridge_reads_but_writes_nothing_until_activated(tmp_path: Path) -> None:
    config = cell_with_real_welder(tmp_path)
    twin = Device(config.device("welder").endpoint)
    bus = Bus(config, managed=False)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    events: list[tuple[str, str, str]] = []
    t = topics.transition_event("welder")
    bus.probe.create_subscription(t.type, t.name, lambda m: events.append(
        (m.transition.label, m.start_state.label, m.goal_state.label)), t.qos)
    bridge.start()
    try:
        assert bus.until(lambda: bus.status.get("lifecycle") == "unconfigured")
        assert bus.state == "offline" and "unconfigured" in bus.device_status.detail
        bus.manager._goal("welder", "configure", (), time.monotonic())
        assert bus.until(lambda: bus.status.get("lifecycle") == "inactive" and bus.state == "idle"), bus.status
        bus.setpoints.publish(bus.codec.array(topics.WELD_SETPOINTS, (25.0, 8.0, 10.0, 0.0, 0.0)))
        bus.command.publish(bus.codec.status("welder", "activate", 0, {"id": "a-0"}))  # one id: no duplicate
        bus.until(lambda: False, 0.3)
        assert written_voltages(twin) == [], "an inactive bridge wrote to the device"
        assert bus.until(lambda: bus.status.get("lifecycle") == "active")
        bus.setpoints.publish(bus.codec.array(topics.WELD_SETPOINTS, (25.0, 8.0, 10.0, 0.0, 0.0)))
        assert bus.until(lambda: written_voltages(twin) != [])
        bus.command.publish(bus.codec.status("welder", "configure", 0, {"id": "a-1"}))
        assert bus.until(lambda: "configure is not a transition of active" in bus.status.get("goal.a-1", ""))
        assert events == [("configure", "unconfigured", "inactive"), ("activate", "inactive", "active")], \
            "each transition on ~/transition_event, as rclpy.lifecycle publishes it"
    finally:
        bridge.stop()
        twin.close()


def test_twin_shadow_real_twin_moves_the_welder_and_measures_the_gap(rig) -> None:
    config, bus, bridge, twin, real = rig
    divergence = topics.divergence("welder", bridge.signals)
    seen: list[dict[str, float]] = []
    bus.probe.create_subscription(divergence.type, divergence.name,
                                  lambda m: seen.append(Codec.read_array(divergence, m)), divergence.qos)
    set_voltage(bus, 24.1)
    assert bus.until(lambda: twin.value(VOLTAGE) == 24.1)

    answer, took_s = swap(bus, "shadow")
    assert answer == "Accepted", answer
    assert bus.until(lambda: bus.status.get("backend") == "shadow")
    assert real.value(VOLTAGE) == pytest.approx(24.1), "the real device got the setpoint the twin held"
    assert bus.status["application_uri"] == PLANT_URI and bus.status.get("shadow") == "ok"
    assert bus.until(lambda: len(seen) >= 5)
    assert seen[-1][f"{CURRENT} [A]"] == pytest.approx(20.0), "twin 230 A − real 210 A"
    assert bus.until(lambda: "recent RMS" in bus.status.get("drift", "")), bus.status.get("drift")
    set_voltage(bus, 24.2)
    assert bus.until(lambda: real.value(VOLTAGE) == pytest.approx(24.2) and twin.value(VOLTAGE) == 24.2), \
        "in shadow the twin gets every setpoint the real device gets"
    print(f"twin -> shadow answered in {took_s * 1000:.0f} ms")

    answer, _ = swap(bus, "real")
    assert answer == "Accepted" and bus.until(lambda: bus.status.get("backend") == "real")
    assert "shadow" not in bus.status
    set_voltage(bus, 24.3)
    assert bus.until(lambda: real.value(VOLTAGE) == pytest.approx(24.3))
    assert twin.value(VOLTAGE) == 24.2, "real alone: the twin is left out"
    assert bridge.snapshot.get(CURRENT) == pytest.approx(210.0), "read through the mapping, kA -> A"

    answer, _ = swap(bus, "twin")
    assert answer == "Accepted" and bus.until(lambda: bus.status.get("backend") == "twin")
    assert twin.value(VOLTAGE) == pytest.approx(24.3), "back on the twin with the real device's last setpoint"
    assert bus.until(lambda: bridge.snapshot.get(CURRENT) == 230.0)


@pytest.mark.parametrize("spoil, reason", [
    (lambda real: real.close(), "unreachable"),
    (lambda real: setattr(real, "beating", False), "not healthy within 2 s"),  # its life-sign stopped
    (None, "not the welder the description names"),
    ("unmapped", "does not conform"),
])
def test_a_swap_that_fails_a_check_is_refused_and_the_twin_drives_on(tmp_path: Path, spoil, reason: str) -> None:
    config = cell_with_real_welder(tmp_path, application_uri="urn:acme:another-power-source") if spoil is None \
        else cell_with_real_welder(tmp_path)
    twin = Device(config.device("welder").endpoint)
    twin.set({VOLTAGE: 24.0})
    real = real_welder(config, mapped=spoil != "unmapped")  # unmapped: it serves our paths, not Acme's
    if callable(spoil):
        spoil(real)
    bus = Bus(config)
    bus.beat()
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    try:
        assert bus.until(bus.ready, 15.0), bus.status
        bus.until(lambda: False, 1.0)  # the heartbeat flows
        started = time.monotonic()
        answer, _ = swap(bus, "real")
        assert answer.startswith("NotReady: swap to real refused, twin drives on") and reason in answer, answer
        bus.until(lambda: False, 0.5)
        beat_at = [at for at, path in twin.written_at if path == CONTROLLER_HEARTBEAT and at > started - 0.5]
        gaps = [b - a for a, b in zip(beat_at, beat_at[1:])]
        # the heartbeat went on across the swap (which took up to its 2 s health bound): a gap is scheduling,
        # a loaded test process's threads sharing one GIL, within twice the device's watchdog timeout
        assert beat_at and max(gaps) < 2 * WATCHDOG_TIMEOUT_S, f"the heartbeat stopped while it moved: {gaps}"
        assert bus.until(lambda: bus.ready() and bus.status.get("backend") == "twin")
        set_voltage(bus, 24.1)
        assert bus.until(lambda: twin.value(VOLTAGE) == 24.1), "the twin still takes the setpoints"
    finally:
        bridge.stop()
        twin.close()
        real.close()


def test_real_time_is_required_for_a_real_backend(tmp_path: Path) -> None:
    config = load_cell(private_cell_file(tmp_path, "scaled", lambda d: d["devices"]["welder"].update(
        real={"endpoint": "opc.tcp://127.0.0.1:1", "security": real_device_security(tmp_path)})))
    assert config.time_scale != 1
    twin = Device(config.device("welder").endpoint)
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    try:
        assert bus.until(bus.ready, 15.0)
        answer, _ = swap(bus, "shadow")
        assert "real devices run in real time" in answer and bus.status["backend"] == "twin", answer
    finally:
        bridge.stop()
        twin.close()
