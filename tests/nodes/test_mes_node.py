"""The northbound PackML server: a shift driven from an OPC UA client alone, against the supervisor and
simulated devices on an in-memory bus; roles (a viewer's call is BadUserAccessDenied), wrong passwords,
refused commands answered with the supervisor's reason."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua

from cell_controller.core.journal import Outcome
from cell_controller.core.packml import State
from cell_controller.nodes.mes import MesNode
from cell_controller.opcua.address_space import (
    PACKML_ADMIN, PACKML_COMMANDS, PACKML_SET_UNIT_MODE, PACKML_STATE, PACKML_STATUS, packml_spec,
)
from cell_controller.opcua.client import DeviceClient, DeviceUnreachableError
from cell_controller.opcua.users import Role, add_account, load_accounts
from cell_controller.testing import free_ports

from harness import Harness, sim_config

STATE = f"{PACKML_STATUS}/StateCurrent"
UNDEFINED = PACKML_STATE.index("Undefined")  # shown until the supervisor has said its state


class RealTimeBus(threading.Thread):
    """Advances the in-memory bus about ten times faster than the wall clock, until stopped."""

    def __init__(self, cell: Harness):
        super().__init__(daemon=True)
        self.cell, self.running = cell, True

    def run(self) -> None:
        while self.running:
            self.cell.bus.advance(0.02)
            time.sleep(0.002)


@pytest.fixture
def northbound(tmp_path: Path):
    accounts_file = tmp_path / "accounts.yaml"
    add_account(accounts_file, "alice", Role.OPERATOR, "correct horse")
    add_account(accounts_file, "victor", Role.VIEWER, "battery staple")
    port = free_ports(1)[0]

    def edit(data: dict[str, Any]) -> None:
        data["mes"] = {"endpoint": f"opc.tcp://127.0.0.1:{port}", "accounts": str(accounts_file)}
    config = sim_config(tmp_path, edit)
    cell = Harness(config, parts=2, auto_start=False)
    mes = MesNode(cell.bus.node("mes", config.namespace), config, load_accounts(accounts_file))
    runner = RealTimeBus(cell)
    runner.start()
    mes.start()
    try:
        yield cell, config.mes.endpoint
    finally:
        runner.running = False
        runner.join(2)
        mes.stop()


async def connect(endpoint: str, user: str, password: str) -> DeviceClient:
    return await DeviceClient.connect(endpoint, packml_spec(), 5.0, username=user, password=password)


async def raw_call(client: DeviceClient, method: str, *arguments: ua.Variant) -> list:
    """A method call as any OPC UA client may send it, past DeviceClient's own argument checks."""
    parent = client._client.get_node(client._nodeids[method.rsplit("/", 1)[0]])
    return await parent.call_method(client._nodeids[method], *arguments)


async def until(client: DeviceClient, path: str, want: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := (await client.read([path]))[path]) != want:
        reason = (await client.read([f"{PACKML_ADMIN}/StopReason/Message"]))[f"{PACKML_ADMIN}/StopReason/Message"]
        assert time.monotonic() < deadline, f"{path} never became {want}: {got} ({reason})"
        await asyncio.sleep(0.05)


def test_a_shift_driven_from_opc_ua_alone(northbound) -> None:
    cell, endpoint = northbound

    async def drive() -> None:
        alice = await connect(endpoint, "alice", "correct horse")
        try:
            await until(alice, STATE, State.STOPPED.number)
            assert await alice.call(f"{PACKML_COMMANDS}/Reset") == (0, "")
            await until(alice, STATE, State.IDLE.number)
            assert await alice.call(f"{PACKML_COMMANDS}/Unhold") == (2, "unhold is not allowed in state Idle")
            assert await raw_call(alice, PACKML_SET_UNIT_MODE, ua.Variant(7, ua.VariantType.Int32)) == \
                [3, "unit mode 7 is not one of Production, Maintenance, Manual"]  # InvalidArgument
            assert await alice.call(f"{PACKML_COMMANDS}/Start") == (0, "")
            await until(alice, STATE, State.EXECUTE.number)
            tags = await alice.read([f"{PACKML_STATUS}/UnitModeCurrent", f"{PACKML_ADMIN}/MachDesignSpeed",
                                     f"{PACKML_STATUS}/AvailableTransitions"])
            design_speed_per_min = 60.0 / cell.config.supervisor.ideal_cycle_s  # parts per minute at the ideal cycle
            assert tags[f"{PACKML_STATUS}/UnitModeCurrent"] == 1
            assert tags[f"{PACKML_ADMIN}/MachDesignSpeed"] == pytest.approx(design_speed_per_min, abs=1e-3)
            assert "hold" in tags[f"{PACKML_STATUS}/AvailableTransitions"].split(",")
            assert await alice.call(PACKML_SET_UNIT_MODE, 2) == \
                (2, "the unit mode changes only in Stopped, Idle, Aborted, not in Execute")
            for command, state in (("Hold", State.HELD), ("Unhold", State.EXECUTE), ("Suspend", State.SUSPENDED),
                                   ("Unsuspend", State.EXECUTE)):
                assert await alice.call(f"{PACKML_COMMANDS}/{command}") == (0, ""), command
                await until(alice, STATE, state.number)
            reason = await alice.read([f"{PACKML_ADMIN}/StopReason/Message"])
            assert reason[f"{PACKML_ADMIN}/StopReason/Message"] == ""  # cleared on the way back to Execute
            await until(alice, f"{PACKML_ADMIN}/ProdProcessedCount", 1, 120)
            assert await alice.call(f"{PACKML_COMMANDS}/Stop") == (0, "")
            await until(alice, STATE, State.STOPPED.number)
            stop = await alice.read([f"{PACKML_ADMIN}/StopReason/ID", f"{PACKML_ADMIN}/StopReason/Message",
                                     f"{PACKML_ADMIN}/StateCumulativeTime/Execute"])
            assert stop[f"{PACKML_ADMIN}/StopReason/Message"] == "stop by alice"
            assert stop[f"{PACKML_ADMIN}/StateCumulativeTime/Execute"] > 10.0
        finally:
            await alice.disconnect()

    asyncio.run(drive())
    records = cell.journal.parts()
    assert [r.outcome for r in records if r.outcome in (Outcome.GOOD, Outcome.DEFECTIVE)]
    assert cell.journal.summary(1).status == "stopped"
    commands = [detail for _, kind, source, detail in cell.journal.events(1) if kind == "command"]
    assert any(d.startswith("hold: accepted") for d in commands)
    sources = {source for _, kind, source, _ in cell.journal.events(1) if kind == "command"}
    assert sources == {"alice"}, "every command from the server is journaled with its user"


def test_a_viewer_reads_and_subscribes_but_its_call_is_denied(northbound) -> None:
    cell, endpoint = northbound

    async def view() -> None:
        victor = await connect(endpoint, "victor", "battery staple")
        try:
            seen: asyncio.Queue = asyncio.Queue()
            await victor.subscribe([STATE], 50, lambda path, value, ts, good: seen.put_nowait(value))
            first = await asyncio.wait_for(seen.get(), 5)
            if first == UNDEFINED:  # subscribed before the supervisor's first state reached the server
                first = await asyncio.wait_for(seen.get(), 5)
            assert first == State.STOPPED.number
            with pytest.raises(ua.UaStatusCodeError) as denied:
                await victor.call(f"{PACKML_COMMANDS}/Reset")
            assert denied.value.code == ua.StatusCodes.BadUserAccessDenied
        finally:
            await victor.disconnect()

    asyncio.run(view())
    assert cell.packml is State.STOPPED, "a viewer's call changed nothing"


@pytest.mark.parametrize("user, password", [("alice", "wrong"), ("mallory", "x"), (None, None)])
def test_wrong_passwords_unknown_users_and_anonymous_sessions_are_refused(northbound, user, password) -> None:
    _, endpoint = northbound

    async def attempt() -> None:
        with pytest.raises(DeviceUnreachableError):
            await DeviceClient.connect(endpoint, packml_spec(), 3.0, username=user, password=password)

    asyncio.run(attempt())


def test_a_restarted_supervisor_is_shown_from_its_own_state_never_the_dead_ones(tmp_path: Path) -> None:
    """kill -9 of the supervisor: Undefined; its successor's heartbeat alone does not bring back the dead
    one's Execute (the server would claim production the restarted supervisor never resumed)."""
    from cell_controller.bus.memory import MemoryBus
    from cell_controller.nodes import topics
    from cell_controller.nodes.codec import OK, Codec

    port = free_ports(1)[0]
    config = sim_config(tmp_path, lambda data: data.update(mes={"endpoint": f"opc.tcp://127.0.0.1:{port}"}))
    bus = MemoryBus()
    mes = MesNode(bus.node("mes", config.namespace), config, None)

    def supervisor(name: str):
        node = bus.node(name, config.namespace)
        beat = node.create_publisher(topics.HEARTBEAT.type, topics.HEARTBEAT.name, topics.HEARTBEAT.qos)
        state = node.create_publisher(topics.CELL_STATE.type, topics.CELL_STATE.name, topics.CELL_STATE.qos)
        return node, beat, state, Codec(node), node.message(topics.HEARTBEAT.type)

    def shown() -> int:
        async def read() -> int:
            client = await DeviceClient.connect(config.mes.endpoint, packml_spec(), 5.0)
            try:
                return (await client.read([STATE]))[STATE]
            finally:
                await client.disconnect()
        bus.advance(1.0)
        time.sleep(0.3)  # the server's own thread writes the tags
        return asyncio.run(read())

    mes.start()
    try:
        first, beat, state, codec, uint32 = supervisor("supervisor")
        beat.publish(uint32(data=1))
        state.publish(codec.status("cell", "Execute", OK, {"state": "Execute"}))
        assert shown() == State.EXECUTE.number
        first.kill()
        assert shown() == UNDEFINED
        second, beat, state, codec, uint32 = supervisor("supervisor")
        beat.publish(uint32(data=1))
        assert shown() == UNDEFINED  # alive again, but it has not said its state yet
        state.publish(codec.status("cell", "Aborted", OK, {"state": "Aborted"}))
        assert shown() == State.ABORTED.number
    finally:
        mes.stop()
