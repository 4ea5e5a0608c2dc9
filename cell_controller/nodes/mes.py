"""The northbound node: the cell as an OPC 30050 (PackML) OPC UA server for the plant's MES and SCADA.

It is a node of the graph like any other: it reads the supervisor's `state` and writes
operator commands on `command`, never talking to the supervisor or a device directly. Its
server (`opcua.address_space.packml_spec`) publishes the PackTags from each `state` message;
each method publishes its command with an id and the caller's account name, waits (at most
`ANSWER_TIMEOUT_S`) for the supervisor's answer on `state`, and returns it: Accepted, or the
refusal's status and reason. With an accounts file, a viewer's call is refused by the server
itself (BadUserAccessDenied) before it reaches the cell.
"""
from __future__ import annotations

import asyncio
import secrets
import threading
from typing import Any

from cell_controller.bus.api import Node
from cell_controller.core.config import CellConfig, ConfigError
from cell_controller.core.packml import State, UnitMode
from cell_controller.opcua.address_space import (
    DEVICE_BACKEND, PACKML_ADMIN, PACKML_COMMANDS, PACKML_SET_UNIT_MODE, PACKML_STATUS, PACKML_SWAP_BACKEND,
    PACKML_UNIT_MODE, packml_spec,
)
from cell_controller.opcua.server import DeviceServer, ServerSecurity
from cell_controller.opcua.users import Account, AccountsError, current_user, load_accounts

from . import topics
from .codec import Codec
from .runtime import spin_until_signal, start_node

#: how long a method waits for the supervisor's answer, s
ANSWER_TIMEOUT_S = 2.0
#: the supervisor's liveliness is checked this often, s
LIVELINESS_CHECK_S = 0.1
#: what the PackTags say while no supervisor runs (its heartbeat's liveliness is lost)
SUPERVISOR_GONE = {"state": "", "state_requested": "", "available": "", "stop_reason": "the supervisor is not running"}
SERVER_START_TIMEOUT_S = 60.0
STATE_NAMES = {s.value: s for s in State}


def packtags(values: dict[str, str]) -> dict[str, Any]:
    """The server's variables from the values of one `state` message."""
    def number(key: str) -> int:
        try:
            return max(int(values.get(key, "0") or 0), 0)
        except ValueError:
            return 0

    def speed(key: str) -> float:
        try:
            return min(max(float(values.get(key, "0") or 0.0), 0.0), 1000.0)
        except ValueError:
            return 0.0
    state = STATE_NAMES.get(values.get("state", ""))
    requested = STATE_NAMES.get(values.get("state_requested", ""))
    result = values.get("command_result", "")
    tags: dict[str, Any] = {
        f"{PACKML_STATUS}/StateCurrent": state.number if state else 0,
        f"{PACKML_STATUS}/StateRequested": requested.number if requested else 0,
        f"{PACKML_STATUS}/StateChangeInProcess": values.get("state_change_in_process") == "1",
        f"{PACKML_STATUS}/UnitModeCurrent": number("unit_mode_number"),
        f"{PACKML_STATUS}/AvailableTransitions": values.get("available", ""),
        f"{PACKML_STATUS}/CurMachSpeed": speed("cur_mach_speed_per_min"),
        f"{PACKML_STATUS}/EquipmentBlocked": values.get("blocked") == "1",
        f"{PACKML_STATUS}/EquipmentStarved": values.get("starved") == "1",
        f"{PACKML_STATUS}/Warning": values.get("warning", ""),
        f"{PACKML_STATUS}/LastCommand": values.get("command", ""),
        f"{PACKML_STATUS}/Backends": values.get("backends", ""),
        f"{PACKML_STATUS}/LastSwap": values.get("swap", ""),
        f"{PACKML_STATUS}/LastSwapResult": values.get("swap_result", ""),
        f"{PACKML_STATUS}/LastCommandResult": result + (f": {values['command_reason']}"
                                                       if values.get("command_reason") else ""),
        f"{PACKML_ADMIN}/ShiftId": number("shift_id"),
        f"{PACKML_ADMIN}/PartsTarget": number("parts_target"),
        f"{PACKML_ADMIN}/ProdProcessedCount": number("parts_done"),
        f"{PACKML_ADMIN}/ProdDefectiveCount": number("defective") + number("scrapped") + number("interrupted"),
        f"{PACKML_ADMIN}/MachDesignSpeed": speed("mach_design_speed_per_min"),
        f"{PACKML_ADMIN}/StopReason/ID": number("stop_reason_code"),
        f"{PACKML_ADMIN}/StopReason/Message": values.get("stop_reason", ""),
    }
    for key, seconds in values.items():
        if key.startswith("time_s.") and key[7:] in STATE_NAMES:
            tags[f"{PACKML_ADMIN}/StateCumulativeTime/{key[7:]}"] = min(float(seconds), 1e9)
    return tags


class MesNode:
    """The northbound server on its own asyncio loop thread; the bus on the main thread."""

    def __init__(self, node: Node, config: CellConfig, accounts: dict[str, Account] | None):
        assert config.mes is not None
        self.node, self.config, self.accounts = node, config, accounts
        self.endpoint = config.mes.endpoint
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mes-opcua", daemon=True)
        self.server: DeviceServer | None = None
        self._answers: dict[str, asyncio.Future] = {}
        self.command_pub = node.create_publisher(topics.CELL_COMMAND.type, topics.CELL_COMMAND.name,
                                                 topics.CELL_COMMAND.qos)
        node.create_subscription(topics.CELL_STATE.type, topics.CELL_STATE.name, self._on_state, topics.CELL_STATE.qos)
        self.supervisor = node.create_subscription(topics.HEARTBEAT.type, topics.HEARTBEAT.name, lambda msg: None,
                                                   topics.HEARTBEAT.qos)
        self.latest: dict[str, str] = {}
        self.supervisor_alive = False
        node.create_timer(LIVELINESS_CHECK_S, self._check_supervisor)

    def start(self) -> None:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(SERVER_START_TIMEOUT_S)

    async def _serve(self) -> DeviceServer:
        security = self.config.mes.security
        server = await DeviceServer.start(packml_spec(), self.endpoint, f"cell-{self.config.name}",
                                          accounts=self.accounts,
                                          security=ServerSecurity.from_config(security) if security else None)
        for command in ("Reset", "Start", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear"):
            server.bind_method(f"{PACKML_COMMANDS}/{command}", lambda c=command.lower(): self._command(c))
        server.bind_method(PACKML_SET_UNIT_MODE, self._set_unit_mode)
        server.bind_method(PACKML_SWAP_BACKEND, self._swap)
        self.log.info("northbound PackML server on %s", self.endpoint)
        return server

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)

    # -- bus -> server ---------------------------------------------------------------------
    def _on_state(self, msg: Any) -> None:
        self.latest = Codec.values(msg)
        if self.supervisor_alive:
            self.loop.call_soon_threadsafe(self._publish, self.latest)

    def _check_supervisor(self) -> None:
        """While the supervisor is gone the server shows state Undefined, not its last word. One that died (no
        heartbeat writer left) takes its last word with it: a restarted one is shown from its own first state
        on, never the dead one's (two writers, a rogue beside it: the running one's word stands)."""
        alive = topics.supervisor_alive(self.supervisor)
        if alive != self.supervisor_alive:
            self.supervisor_alive = alive
            self.log.warning("the supervisor %s", "is back" if alive else "is gone (not one heartbeat writer alive)")
            values = self.latest if alive else {**self.latest, **SUPERVISOR_GONE}
            if not alive and self.supervisor.alive_publisher_count() == 0:
                self.latest = {}
            if values:
                self.loop.call_soon_threadsafe(self._publish, values)

    def _publish(self, values: dict[str, str]) -> None:
        future = self._answers.pop(values.get("command_id", ""), None)
        if future is not None and not future.done():
            future.set_result(values)
        if self.server is not None:
            asyncio.ensure_future(self._write(packtags(values)))

    async def _write(self, tags: dict[str, Any]) -> None:
        try:
            await self.server.set_values(tags)
        except (ValueError, TypeError, RuntimeError) as error:  # a value the spec does not take: logged, skipped
            self.log.warning("PackTags not published: %s", error)

    # -- server -> bus ---------------------------------------------------------------------
    async def _set_unit_mode(self, mode: int) -> tuple[int, str]:
        if not 1 <= mode <= len(UnitMode):
            return 3, f"unit mode {mode} is not one of {', '.join(PACKML_UNIT_MODE.values[1:])}"
        return await self._command(f"mode {UnitMode(mode).name.lower()}")

    async def _swap(self, device: str, backend: int) -> tuple[int, str]:
        if not 0 <= backend < len(DEVICE_BACKEND.values):
            return 3, f"backend {backend} is not one of {', '.join(DEVICE_BACKEND.values)}"
        if not device or not device.replace("_", "").isalnum():
            return 3, f"device {device[:40]!r} is not a device name"
        return await self._command(f"swap {device} {DEVICE_BACKEND.values[backend]}")

    async def _command(self, text: str) -> tuple[int, str]:
        """Send `text` as the caller's command; the supervisor's answer as (CommandStatus index, reason)."""
        command_id = secrets.token_hex(6)
        user = current_user() or "mes"
        answer: asyncio.Future = self.loop.create_future()
        self._answers[command_id] = answer
        self.command_pub.publish(self.codec.string(f"{text} id={command_id} user={user}"))
        try:
            values = await asyncio.wait_for(answer, ANSWER_TIMEOUT_S)
        except asyncio.TimeoutError:
            self._answers.pop(command_id, None)
            return 4, f"the supervisor did not answer within {ANSWER_TIMEOUT_S:.0f} s"
        if values.get("command_result") == "accepted":
            return 0, ""
        return 2, values.get("command_reason", "refused")


def main(argv: list[str] | None = None) -> None:
    def accounts(node: Node, config: CellConfig) -> dict[str, Account] | None:
        if config.mes is None:
            raise ConfigError(config.path, "mes", "missing: the northbound server needs its endpoint")
        try:
            return load_accounts(config.mes.accounts_path) if config.mes.accounts_path else None
        except AccountsError as error:
            raise ConfigError(config.path, "mes.accounts", str(error)) from None
    node, config, loaded = start_node("mes", argv, accounts)
    mes = MesNode(node, config, loaded)
    mes.start()
    spin_until_signal(node, mes.stop)
