"""cellctl shift as an integrator runs it: any process of the cell dying is noticed within 2 s in
any state; a shift that overruns its deadline is stopped and fails with the reason; a shift is
driven from the northbound OPC UA server alone (cellctl shift --manual-start)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest
from asyncua import ua

from cell_controller.core.config import load_cell
from cell_controller.core.journal import Journal
from cell_controller.core.packml import State
from cell_controller.opcua.address_space import PACKML_ADMIN, PACKML_COMMANDS, PACKML_STATUS, packml_spec
from cell_controller.opcua.client import DeviceClient

from .conftest import CELLCTL, run_cellctl

pytestmark = pytest.mark.e2e

STATE = f"{PACKML_STATUS}/StateCurrent"


def _pids_of(parent: int, name: str) -> list[int]:
    """Child processes of `parent` whose command line names `name` (a console script)."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(parent)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if name in line]


async def _mes(endpoint: str, timeout_s: float = 120.0) -> DeviceClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await DeviceClient.connect(endpoint, packml_spec(), 3.0)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _until(client: DeviceClient, path: str, want, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := (await client.read([path]))[path]) != want:
        assert time.monotonic() < deadline, \
            f"{path} = {got}, not {want}: {(await client.read([f'{PACKML_ADMIN}/StopReason/Message']))}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("victim, manual", [("cell-feeder-bridge", True), ("cell-twin", False)])
def test_a_dead_process_ends_the_shift_within_2_s_in_any_state(cell_file, cell_env, victim: str, manual: bool) -> None:
    config = load_cell(cell_file())
    argv = [CELLCTL, "shift", "--parts", "5", "--config", str(config.path)] + (["--manual-start"] if manual else [])
    shift = subprocess.Popen(argv, env=cell_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        async def wait_for(state: State) -> None:
            mes = await _mes(config.mes.endpoint)
            try:
                await _until(mes, STATE, state.number)
            finally:
                await mes.disconnect()
        asyncio.run(wait_for(State.STOPPED if manual else State.EXECUTE))
        (pid,) = _pids_of(shift.pid, victim)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = shift.communicate(timeout=30)
        noticed_s = time.monotonic() - killed_at
    finally:
        if shift.poll() is None:
            os.killpg(shift.pid, signal.SIGKILL)
    assert shift.returncode == 1, out + err
    name = {"cell-feeder-bridge": "feeder_bridge", "cell-twin": "twin"}[victim]
    assert f"{name} stopped" in err
    assert noticed_s < 2.0 + 5.0  # noticed within 2 s; the rest is stopping the others (grace 4 s)


def test_a_shift_past_its_deadline_is_stopped_and_fails_with_the_reason(cell_file, cell_env, tmp_path) -> None:
    config = load_cell(cell_file())
    logs = tmp_path / "other-disk" / "logs"
    started = time.monotonic()
    done = run_cellctl(["shift", "--parts", "50", "--timeout", "15", "--log-dir", str(logs),
                        "--config", str(config.path)], cell_env, timeout_s=120)
    took_s = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "did not end before its deadline" in done.stderr
    assert took_s < 15 + 15 + 10  # the deadline, start-up, the stop
    with Journal(config.journal_path, writer=False) as journal:
        summary = journal.summary(journal.last_shift_id())
    assert summary.status == "stopped" and summary.good + summary.defective < 50
    assert f"Shift {summary.shift_id}: stopped" in done.stdout
    (run_logs,) = logs.iterdir()  # the logs went where they were told, not beside the journal
    assert (run_logs / "supervisor.log").exists() and not (config.journal_path.parent / "logs").exists()


def test_bad_timeout_is_refused_before_anything_starts(cell_file, cell_env) -> None:
    config = load_cell(cell_file())
    done = run_cellctl(["shift", "--timeout", "-5", "--config", str(config.path)], cell_env, timeout_s=30)
    assert done.returncode == 2 and "--timeout" in done.stderr
    assert not config.journal_path.exists()


def test_a_shift_driven_from_the_northbound_server_alone(cell_file, cell_env) -> None:
    config = load_cell(cell_file())
    shift = subprocess.Popen([CELLCTL, "shift", "--parts", "2", "--manual-start", "--config", str(config.path)],
                             env=cell_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL, start_new_session=True)

    async def drive() -> None:
        mes = await _mes(config.mes.endpoint)
        try:
            await _until(mes, STATE, State.STOPPED.number)
            for command, state in (("Reset", State.IDLE), ("Start", State.EXECUTE), ("Hold", State.HELD),
                                   ("Unhold", State.EXECUTE), ("Suspend", State.SUSPENDED),
                                   ("Unsuspend", State.EXECUTE)):
                assert await mes.call(f"{PACKML_COMMANDS}/{command}") == (0, ""), command
                await _until(mes, STATE, state.number, 60)
            await _until(mes, f"{PACKML_ADMIN}/ProdProcessedCount", 1, 180)
            assert await mes.call(f"{PACKML_COMMANDS}/Stop") == (0, "")
            try:
                await _until(mes, STATE, State.STOPPED.number, 60)
            except (ConnectionError, ua.UaError):
                pass  # cellctl saw the shift end first and stopped the cell, the northbound server with it
        finally:
            await mes.disconnect()
    try:
        asyncio.run(drive())
        out, err = shift.communicate(timeout=60)
    finally:
        if shift.poll() is None:
            os.killpg(shift.pid, signal.SIGKILL)
    assert shift.returncode == 1 and "ended in Stopped" in err, out + err  # stopped, not complete
    with Journal(config.journal_path, writer=False) as journal:
        shift_id = journal.last_shift_id()
        summary = journal.summary(shift_id)
        commands = [(source, detail) for _, kind, source, detail in journal.events(shift_id) if kind == "command"]
    assert summary.status == "stopped" and summary.good + summary.defective >= 1
    assert ("mes", "hold: accepted") in commands and ("mes", "stop: accepted") in commands
