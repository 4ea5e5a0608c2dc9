"""The supervisor as its bridges' lifecycle manager and swap coordinator, on simulated devices: bridges are
brought up from unconfigured (again after a restart), an inactive bridge holds the cell, a swap is taken in
Stopped, Idle, Held, Suspended and Aborted only and refused elsewhere with the reason, a swap the bridge
rolls back is journaled once as refused, and parts carry the backends they were made on."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cell_controller.core.lifecycle import LifecycleState
from cell_controller.core.packml import State
from cell_controller.testing import real_device_security

from harness import Harness, sim_config


def _real_welder(folder: Path):
    def edit(d: dict[str, Any]) -> None:
        d["devices"]["welder"]["real"] = {"endpoint": "opc.tcp://127.0.0.1:1", "security": real_device_security(folder)}
    return edit


@pytest.fixture
def config(tmp_path: Path):
    return sim_config(tmp_path, _real_welder(tmp_path))


def _swap_events(cell: Harness) -> list[str]:
    shift = cell.sup.production.shift_id
    return [d for _, kind, _, d in cell.journal.events(shift) if d.startswith("swap")] if shift else \
        [row[0] for row in cell.journal._db.execute("SELECT detail FROM events WHERE detail LIKE 'swap%'")]


def test_the_supervisor_brings_every_bridge_up_and_again_after_a_bridge_restart(config) -> None:
    cell = Harness(config, parts=1, auto_start=False)
    assert all(b.lifecycle is LifecycleState.UNCONFIGURED for b in cell.world.bridges.values())
    assert cell.run_until(lambda: all(b.lifecycle is LifecycleState.ACTIVE for b in cell.world.bridges.values()), 10)
    welder = cell.world.bridges["welder"]
    welder.lifecycle = LifecycleState.UNCONFIGURED  # a bridge process restarted
    assert cell.run_until(lambda: welder.lifecycle is LifecycleState.ACTIVE, 10)


def test_an_inactive_bridge_holds_the_producing_cell(config) -> None:
    cell = Harness(config, parts=3)
    cell.run_to(State.EXECUTE, 60)
    cell.world.bridges["robot"].lifecycle = LifecycleState.INACTIVE
    cell.world.bridges["robot"].publish()
    cell.run_to(State.HELD, 5)
    assert "robot: its bridge is inactive, not active" in cell.sup.stop_reason.text


@pytest.mark.parametrize("state", [State.STOPPED, State.IDLE, State.HELD, State.SUSPENDED, State.ABORTED])
def test_a_swap_is_taken_where_nothing_runs(config, state: State) -> None:
    cell = Harness(config, parts=3, auto_start=False)
    cell.run_until(lambda: all(b.lifecycle is LifecycleState.ACTIVE for b in cell.world.bridges.values()), 10)
    for command, reached in {State.IDLE: [("reset", State.IDLE)], State.HELD: [
            ("reset", State.IDLE), ("start", State.EXECUTE), ("hold", State.HELD)],
            State.SUSPENDED: [("reset", State.IDLE), ("start", State.EXECUTE), ("suspend", State.SUSPENDED)],
            State.ABORTED: [("abort", State.ABORTED)]}.get(state, []):
        cell.command(command)
        cell.run_to(reached, 60)
    answer = cell.command("swap welder shadow id=s1")
    assert answer["command_id"] == "s1" and answer["command_result"] == "accepted", answer
    assert cell.run_until(lambda: cell.state.get("swap_id") == "s1", 10)
    assert cell.state["swap_result"].startswith("done") and "welder:shadow" in cell.state["backends"]
    assert cell.packml is state, "a swap changes no PackML state"


@pytest.mark.parametrize("command", ["swap welder real", "swap robot shadow", "swap welder sideways", "swap oven twin"])
def test_swaps_refused_with_the_reason_and_journaled_once(config, command: str) -> None:
    cell = Harness(config, parts=3)
    cell.run_to(State.EXECUTE, 60)
    answer = cell.command(command)
    assert answer["command_result"] == "refused" and "not in Execute" in answer["command_reason"], answer
    cell.command("hold")
    cell.run_to(State.HELD, 60)
    answer = cell.command(command)
    reasons = {"swap welder real": None, "swap robot shadow": "devices.robot has no real section",
               "swap welder sideways": "unknown backend 'sideways'", "swap oven twin": "unknown device 'oven'"}
    if reasons[command] is None:
        assert answer["command_result"] == "accepted"
    else:
        assert answer["command_result"] == "refused" and reasons[command] in answer["command_reason"], answer
        assert [e for e in _swap_events(cell) if "refused" in e][-1].startswith(command)


def test_a_swap_the_bridge_rolls_back_is_refused_and_unhold_waits_for_no_swap(config) -> None:
    cell = Harness(config, parts=2)
    cell.run_to(State.EXECUTE, 60)
    cell.command("hold")
    cell.run_to(State.HELD, 60)
    welder = cell.world.bridges["welder"]
    welder.swap_answer = "NotReady: swap to real refused, twin drives on: opc.tcp://127.0.0.1:1 unreachable"
    assert cell.command("swap welder real id=r1")["command_result"] == "accepted"
    assert cell.run_until(lambda: cell.state.get("swap_id") == "r1", 10)
    assert cell.state["swap_result"].startswith("refused: NotReady: swap to real refused, twin drives on")
    assert welder.backend == "twin" and "welder:twin" in cell.state["backends"]
    events = _swap_events(cell)
    assert len([e for e in events if e.startswith("swap welder real")]) == 1, events
    welder.swap_answer = None
    cell.command("unhold")
    cell.run_to(State.EXECUTE, 30)
    cell.run_to(State.COMPLETE, 900)


def test_parts_carry_the_backends_they_were_made_on(config) -> None:
    cell = Harness(config, parts=2)
    cell.run_to(State.EXECUTE, 60)
    cell.command("hold")
    cell.run_to(State.HELD, 60)
    cell.command("swap welder shadow")
    assert cell.run_until(lambda: cell.world.bridges["welder"].backend == "shadow", 10)
    cell.run_until(lambda: cell.command("unhold")["command_result"] == "accepted", 10)
    cell.run_to(State.COMPLETE, 900)
    backends = [r.backends["welder"] for r in cell.journal.parts()]
    assert all(b in ("twin>shadow", "shadow") for b in backends), backends
    assert backends[-1] == "shadow"
