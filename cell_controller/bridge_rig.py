"""Rigs for bridge tests and benchmarks: a device server on its own loop thread publishing its life-sign, and an in-memory
bus run in real time whose probe node manages the bridge's lifecycle as the supervisor does."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from cell_controller.bus.memory import MemoryBus
from cell_controller.core.backends import BridgeManager
from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.goals import Goal
from cell_controller.core.types import DeviceStatus
from cell_controller.nodes import topics
from cell_controller.nodes.codec import Codec
from cell_controller.opcua.address_space import DEVICE_HEARTBEAT, WelderPaths, spec_for
from cell_controller.opcua.mapping import AddressMapping, MappedServer, load_mapping
from cell_controller.opcua.server import DeviceServer, ServerSecurity
from cell_controller.opcua.users import load_accounts
from cell_controller.testing import (
    REPO,
    free_ports,
    plant_section,
    private_cell_file,
    real_device_security,
)


class Device:
    """A DeviceServer (welder or feeder) on its own event loop thread, publishing its life-sign like a device.

    The feeder's Clamp is bound: it records each call and answers Accepted."""

    def __init__(self, endpoint: str, kind: str = "welder", mapping: AddressMapping | None = None, **secured: Any):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.endpoint, self.kind, self.mapping = endpoint, kind, mapping
        self.secured = secured  # DeviceServer.start's security and accounts
        self.calls: list[tuple[Any, ...]] = []
        self.written: list[tuple[str, Any]] = []
        self.written_at: list[tuple[float, str]] = []  # (monotonic s, path) of each write
        self.beating = True
        self.server: DeviceServer = self.run(self._start())
        self._beat_task = asyncio.run_coroutine_threadsafe(self._beat(), self.loop)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self) -> DeviceServer | MappedServer:
        if self.mapping is not None:  # the vendor's address space, driven in ours
            server: Any = await MappedServer.start(spec_for(self.kind), self.mapping, self.endpoint,
                                                   f"vendor-{self.kind}", **self.secured)
        else:
            server = await DeviceServer.start(spec_for(self.kind), self.endpoint, f"test-{self.kind}", **self.secured)
        server.on_setpoint_written(lambda path, value: (self.written.append((path, value)),
                                                        self.written_at.append((time.monotonic(), path))))
        if self.kind == "feeder":
            server.bind_method("Feeder/MethodSet/Clamp", lambda: self.calls.append(("clamp",)) or (0, ""))
        return server

    async def _beat(self) -> None:
        beat = 0
        while True:
            if self.beating:
                beat += 1
                await self.server.set_values({DEVICE_HEARTBEAT: beat})
            await asyncio.sleep(0.02)

    def set(self, values: dict[str, Any]) -> None:
        self.run(self.server.set_values(values))

    def value(self, path: str) -> Any:
        return self.server.get_value(path)

    def close(self) -> None:
        if not self.thread.is_alive():
            return
        self._beat_task.cancel()
        try:  # asyncua's stop can wait on a client's half-closed connection: the test does not wait for it
            self.run(asyncio.wait_for(self.server.stop(), 5))
        except (TimeoutError, asyncio.TimeoutError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Bus:
    """The memory bus run in real time (the bridge's OPC UA loop is real), with a probe node that manages
    the bridge's lifecycle as the supervisor does (`BridgeManager`), unless `managed` is False."""

    def __init__(self, config: CellConfig, role: str = "welder", managed: bool = True):
        self.bus = MemoryBus()
        self.role, self.managed = role, managed
        self.device_status: DeviceStatus | None = None
        self.probe = self.bus.node("probe", config.namespace)
        self.probe_namespace = config.namespace
        self.codec = Codec(self.probe)
        self.status: dict[str, str] = {}
        self.state = ""
        self.states: list[str] = []  # every state published, in order (a short offline is not missed)
        self.process: list[dict[str, float]] = []
        t = topics.device_status(role)
        self.probe.create_subscription(t.type, t.name, self._on_status, t.qos)
        self.probe.create_subscription(topics.WELD_PROCESS.type, topics.WELD_PROCESS.name,
                                       lambda m: self.process.append(Codec.read_array(topics.WELD_PROCESS, m)),
                                       topics.WELD_PROCESS.qos)
        c = topics.device_command(role)
        self.command = self.probe.create_publisher(c.type, c.name, c.qos)
        self.setpoints = self.probe.create_publisher(topics.WELD_SETPOINTS.type, topics.WELD_SETPOINTS.name,
                                                     topics.WELD_SETPOINTS.qos)
        self.heartbeat = self.probe.create_publisher(topics.HEARTBEAT.type, topics.HEARTBEAT.name, topics.HEARTBEAT.qos)
        self.heartbeat_message = self.probe.message(topics.HEARTBEAT.type)
        self._beat_period_s: float | None = None
        self.manager = BridgeManager(self._send_goal)

    def _send_goal(self, goal: Goal) -> None:
        self.command.publish(self.codec.status(goal.device, goal.verb, 0,
                                               {"id": goal.id, **{f"arg{i}": a for i, a in enumerate(goal.args)}}))

    def _on_status(self, msg: Any) -> None:
        self.status, self.state = Codec.values(msg), Codec.values(msg).get("state", "")
        self.device_status = self.codec.read_device_status(msg)
        self.manager.on_status(self.role, self.device_status)
        self.states.append(self.state)

    def ready(self) -> bool:
        """The device idle and its bridge active (forwarding)."""
        return self.state == "idle" and self.status.get("lifecycle") == "active"

    def beat(self, period_s: float = 0.1) -> None:
        """From now on publish the supervisor's heartbeat every `period_s` (wall) while waiting in `until`."""
        self._beat_period_s, self._beat_at, self._beats = period_s, 0.0, 0

    def until(self, condition, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._beat_period_s is not None and time.monotonic() - self._beat_at >= self._beat_period_s:
                self._beat_at, self._beats = time.monotonic(), self._beats + 1
                self.heartbeat.publish(self.heartbeat_message(data=self._beats))
            self.bus.advance(0.01)
            if self.managed and self.device_status is not None:
                self.manager.manage({self.role: self.device_status}, time.monotonic())
            if condition():
                return True
            time.sleep(0.005)
        return False


#: the vendor address space the tests' real welder serves, and the identity of the plant's servers
WELDER_MAPPING = REPO / "config/mappings/welder_acme.yaml"
PLANT_URI = "urn:cell-controller:plant"
CURRENT = WelderPaths.ACTUAL_CURRENT


def cell_with_real_welder(folder: Path, **real: Any) -> CellConfig:
    """Real time; the welder with a real section (the Acme mapping, the plant's identity) and `real` over it."""
    def edit(d: dict[str, Any]) -> None:
        d["twin"]["time_scale"] = 1
        d["devices"]["welder"]["real"] = {"endpoint": f"opc.tcp://127.0.0.1:{free_ports(1)[0]}",
                                          "security": real_device_security(folder), "mapping": str(WELDER_MAPPING),
                                          "application_uri": PLANT_URI,
                                          "divergence_tolerance": {CURRENT: 5.0}, **real}
        d["plant"] = plant_section(folder)
    return load_cell(private_cell_file(folder, "swap", edit))


def real_welder(config: CellConfig, mapped: bool = True) -> Device:
    """The welder the description's real section names: the vendor's address space, secured as the plant."""
    plant = config.plant
    assert plant is not None and plant.security is not None and plant.accounts_path is not None
    security = ServerSecurity(plant.security.certificate, plant.security.private_key, trust=plant.security.trust)
    mapping = load_mapping(WELDER_MAPPING, spec_for("welder")) if mapped else None
    return Device(config.device("welder").real.endpoint, mapping=mapping, security=security,
                  accounts=load_accounts(plant.accounts_path))
