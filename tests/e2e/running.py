"""The cell's processes as `cellctl shift` starts them, for tests that kill, restart or cut them, and the
OPC UA reads those tests watch the cell with."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from cell_controller.cli import Cell, _executable
from cell_controller.core.config import CellConfig
from cell_controller.launch_plan import launch_plan
from cell_controller.core.packml import State
from cell_controller.opcua.address_space import PACKML_ADMIN, PACKML_STATUS, WelderPaths
from cell_controller.opcua.client import DeviceClient

STATE = f"{PACKML_STATUS}/StateCurrent"
STOP_REASON = f"{PACKML_ADMIN}/StopReason/Message"


class RunningCell:
    """The cell's processes as `cellctl shift` starts them; the supervisor and the twin can be killed and
    restarted. With `twin_config` (the same description with other device endpoints) the twin serves the
    devices where that one says, and the nodes reach them where `config` says: through a proxy. `plan_options`
    go to `launch_plan` (auto_start, hmi)."""

    def __init__(self, config: CellConfig, env: dict[str, str], log_dir: Path, parts: int,
                 twin_config: CellConfig | None = None, **plan_options: bool):
        self.config = config
        self.plan = launch_plan(config.path, parts, env, **plan_options)
        self.cell = Cell(self.plan, log_dir, env)
        self.twin_cell = Cell(launch_plan(twin_config.path, parts, env), log_dir, env) if twin_config else self.cell
        self.restarts = 0

    def start(self) -> None:
        self.twin_cell.start_servers()
        self.cell.start_nodes()

    def kill(self, name: str) -> None:
        """kill -9 of the cell's process `name` ("supervisor", "twin", a bridge)."""
        process = self._processes(name)[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def restart(self, name: str) -> None:
        """Start `name` again as the plan says, under the same name."""
        self.restarts += 1
        if name in ("twin", "plant"):
            del self.twin_cell.processes[name]
            self.twin_cell.start_server(getattr(self.twin_cell.plan, name))
            return
        node = next(n for n in self.plan.nodes if n.name == name)
        self.cell._spawn(f"{name}-{self.restarts}", [_executable(node.executable), *node.ros_arguments])
        self.cell.processes[name] = self.cell.processes.pop(f"{name}-{self.restarts}")

    def _processes(self, name: str) -> dict:
        return self.twin_cell.processes if name in ("twin", "plant") else self.cell.processes

    def log_tails(self, lines: int = 8) -> str:
        """The last `lines` of the supervisor's, the policy node's and the twin's logs: for a failing test's
        report, which CI shows and which outlives the test's temporary folder."""
        tails = []
        for name in ("supervisor", "policy", "twin"):
            path = self.cell.log_dir / f"{name}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            tails.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(tails)

    def stop(self) -> None:
        self.cell.stop()
        if self.twin_cell is not self.cell:
            self.twin_cell.stop()


async def read(client: DeviceClient, path: str):
    return (await client.read([path]))[path]


async def until_state(mes: DeviceClient, states: set[int], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (state := await read(mes, STATE)) not in states:
        assert time.monotonic() < deadline, f"state {state} not in {states}: {await read(mes, STOP_REASON)}"
        await asyncio.sleep(0.05)
    return state


async def until_arc(mes: DeviceClient, welder: DeviceClient, timeout_s: float = 120.0) -> None:
    """Until the welder's arc is on; fails at once, with the stop reason, when the cell leaves Execute first."""
    deadline = time.monotonic() + timeout_s
    while not await read(welder, WelderPaths.ACTUAL_ARC_ON):
        if (state := await read(mes, STATE)) != State.EXECUTE.number:
            raise AssertionError(f"the cell left Execute before a weld began: state {state}, "
                                 f"{await read(mes, STOP_REASON)!r}")
        assert time.monotonic() < deadline, f"no weld began in {timeout_s:.0f} s in Execute"
        await asyncio.sleep(0.02)


#: a test's observer probes its link this often, s: more leniently than the cell's 0.3 s, so that a loaded
#: 2-core machine does not make the observer drop its link (and fail its next read) in the middle of a check
OBSERVER_WATCHDOG_S = 1.0


async def connect(endpoint: str, spec, timeout_s: float = 60.0) -> DeviceClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await DeviceClient.connect(endpoint, spec, 3.0, watchdog_interval_s=OBSERVER_WATCHDOG_S)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
