"""The twin's OPC UA servers (the project's device servers, in the twin's own process) against a stranger
on the cell network: mutated OPC UA messages (`opcua_fuzz`) to all four servers, 0 crashes and no stall
(a legitimate client's reads, all along, each answered within 5 s); and a flood of 1,000 sessions with
subscriptions (`opcua_flood.py`, a process of its own) in which the servers' limits hold and every
read of the legitimate client is still answered (its latency against the unflooded server is a ratio
that bench/bench_flood.py prints: a benchmark, not a timed test).

The default run sends 5,000 messages; `-m slow` sends 100,000.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asyncua import ua

from cell_controller.cli import Cell
from cell_controller.core.config import CellConfig, load_cell
from cell_controller.launch_plan import launch_plan
from cell_controller.opcua.address_space import DEVICE_HEARTBEAT, spec_for
from cell_controller.opcua.client import DeviceClient
from cell_controller.opcua.server import MAX_CONNECTIONS, MAX_SUBSCRIPTIONS

from .opcua_fuzz import fuzz
from .running import connect

pytestmark = pytest.mark.e2e

FLOOD = Path(__file__).with_name("opcua_flood.py")
STALL_S = 5.0


@pytest.fixture
def twin(cell_file, cell_env, tmp_path):
    config = load_cell(cell_file())
    cell = Cell(launch_plan(config.path, 1, cell_env), tmp_path / "logs", cell_env)
    cell.start_servers()
    try:
        yield config, cell.processes["twin"]
    finally:
        cell.stop()


async def _read_within(client: DeviceClient, timeout_s: float) -> float:
    """Read the device's heartbeat as the cell would, again after a lost link (the client's own probe may
    give up on a server slowed by the fuzz and reconnect), until `timeout_s`: how long it took, s."""
    started = time.monotonic()
    while True:
        try:
            await asyncio.wait_for(client.read([DEVICE_HEARTBEAT]), timeout_s)
            return time.monotonic() - started
        except (ConnectionError, ua.UaError):
            assert time.monotonic() - started < timeout_s, f"{client.endpoint}: no answer within {timeout_s} s"
            await asyncio.sleep(0.05)


async def _probe(clients: dict[str, DeviceClient], stop: asyncio.Event, latencies_s: list[float]) -> None:
    """Read every device's heartbeat again and again: how long each read took (a stall past STALL_S raises)."""
    while not stop.is_set():
        for client in clients.values():
            latencies_s.append(await _read_within(client, STALL_S))
        await asyncio.sleep(0.02)


async def _clients(config: CellConfig) -> dict[str, DeviceClient]:
    return {name: await connect(d.endpoint, spec_for(d.kind.value)) for name, d in config.devices.items()}


def _fuzz_all(config: CellConfig, twin: subprocess.Popen, messages: int) -> None:
    async def main() -> tuple[list, list[float]]:
        clients = await _clients(config)
        latencies_s: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.ensure_future(_probe(clients, stop, latencies_s))
        try:
            stats = []
            for seed, device in enumerate(config.devices.values()):
                host, port = device.host_port
                stats.append(await fuzz(host, port, device.endpoint, messages // len(config.devices), seed))
                assert twin.poll() is None, f"the twin died fuzzing {device.name}: {stats[-1]}"
        finally:
            stop.set()
            await probe  # raises if a read stalled past STALL_S
            for client in clients.values():
                await client.disconnect()
        return stats, latencies_s

    started = time.monotonic()
    stats, latencies_s = asyncio.run(main())
    sent = sum(s.messages for s in stats)
    print(f"{sent} messages in {time.monotonic() - started:.0f} s to {len(stats)} servers: "
          f"{sum(s.cases for s in stats)} channels, {sum(s.closed_by_server for s in stats)} closed by the server, "
          f"{sum(s.waiting for s in stats)} left waiting; legitimate reads: {len(latencies_s)}, "
          f"max {max(latencies_s) * 1e3:.1f} ms")
    assert sent >= messages - len(stats) and twin.poll() is None
    assert max(latencies_s) < STALL_S


def test_5000_mutated_messages_crash_and_stall_none_of_the_twins_servers(twin) -> None:
    _fuzz_all(*twin, messages=5_000)


@pytest.mark.slow
def test_100000_mutated_messages_crash_and_stall_none_of_the_twins_servers(twin) -> None:
    _fuzz_all(*twin, messages=100_000)


def test_a_flood_of_1000_sessions_meets_the_limits_and_the_cells_reads_go_on(twin) -> None:
    config, process = twin
    target = config.device("feeder")

    async def latencies(client: DeviceClient, seconds: float) -> list[float]:
        out: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            out.append(await _read_within(client, STALL_S))
            await asyncio.sleep(0.01)
        return out

    async def main() -> tuple[list[float], dict[str, int]]:
        client = await connect(target.endpoint, spec_for("feeder"))
        try:
            flood = await asyncio.create_subprocess_exec(
                sys.executable, str(FLOOD), target.endpoint, "feeder", "1000",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert flood.stdout is not None and flood.stdin is not None
            line = await asyncio.wait_for(flood.stdout.readline(), 120)
            under_flood = await latencies(client, 5.0)  # with every session the server took held open
            flood.stdin.close()
            await asyncio.wait_for(flood.wait(), 30)
            return under_flood, json.loads(line)
        finally:
            await client.disconnect()

    under_flood, counts = asyncio.run(main())
    print(f"flood {counts}; {len(under_flood)} reads with the flood's sessions held, "
          f"max {max(under_flood) * 1e3:.1f} ms")
    assert counts["sessions"] + counts["sessions_refused"] == 1000
    assert counts["sessions"] <= MAX_CONNECTIONS - 1 and counts["subscriptions"] <= MAX_SUBSCRIPTIONS
    assert process.poll() is None
    assert len(under_flood) > 100 and max(under_flood) < STALL_S
