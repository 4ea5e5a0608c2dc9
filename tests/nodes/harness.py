"""A supervisor on a MemoryBus with simulated devices, an operator and a journal: one cell per test."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from cell_controller.bus.memory import MemoryBus
from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.journal import Journal, Outcome
from cell_controller.core.packml import State
from cell_controller.nodes import topics
from cell_controller.nodes.codec import Codec
from cell_controller.nodes.supervisor import Supervisor
from cell_controller.testing import private_cell_file

from simcell import SimWorld


class RecordingPublisher:
    """Stands in for a node's publisher: keeps every message (a node test's subject is the node)."""

    def __init__(self) -> None:
        self.messages: list = []

    def publish(self, msg) -> None:
        self.messages.append(msg)


def sim_config(folder: Path, edit: Callable[[dict[str, Any]], None] | None = None) -> CellConfig:
    """config/cell.yaml at time scale 1 (simulated devices run on the bus clock), journal in `folder`."""
    def change(data: dict[str, Any]) -> None:
        data["twin"]["time_scale"] = 1
        if edit is not None:
            edit(data)
    return load_cell(private_cell_file(folder, "sim", change))


class Harness:
    """The cell: `sup` the Supervisor under test, `world` the simulated devices, `states` every state heard."""

    def __init__(self, config: CellConfig, parts: int = 3, auto_start: bool = True, seed: int = 0,
                 bus: MemoryBus | None = None, world: SimWorld | None = None):
        self.config, self.parts = config, parts
        self.bus = bus or MemoryBus()
        self.world = world or SimWorld(self.bus, config.namespace, seed)
        self.journal = Journal(config.journal_path)
        self.node = self.bus.node("supervisor", config.namespace)
        self.sup = Supervisor(self.node, config, self.journal, parts, auto_start)
        self.operator = self.bus.node("operator", config.namespace)
        self.codec = Codec(self.operator)
        self._command = self.operator.create_publisher(topics.CELL_COMMAND.type, topics.CELL_COMMAND.name,
                                                       topics.CELL_COMMAND.qos)
        self.state: dict[str, str] = {}
        self.states: list[str] = []
        self.operator.create_subscription(topics.CELL_STATE.type, topics.CELL_STATE.name, self._on_state,
                                          topics.CELL_STATE.qos)

    def _on_state(self, msg: Any) -> None:
        self.state = Codec.values(msg)
        if not self.states or self.states[-1] != msg.message:
            self.states.append(msg.message)

    @property
    def packml(self) -> State:
        return self.sup.packml.state

    def command(self, text: str) -> dict[str, str]:
        """Send an operator command over the bus; the state published right after it."""
        self._command.publish(self.codec.string(text))
        self.bus.advance(0.01)
        return dict(self.state)

    def run_until(self, condition: Callable[[], bool], timeout_s: float = 600.0) -> bool:
        return self.bus.run_until(condition, timeout_s, step_s=0.05)

    def run_to(self, state: State, timeout_s: float = 600.0) -> None:
        assert self.run_until(lambda: self.packml is state, timeout_s), \
            f"not {state.value} within {timeout_s} s: {self.packml.value}, {self.sup.stop_reason}"

    def step_is(self, name: str) -> bool:
        a = self.sup.production.active
        return a is not None and a.step.name == name and (a.goal is not None or a.step.command == "")

    def records(self) -> dict[str, Outcome]:
        return {r.part_id: r.outcome for r in self.journal.parts()}

    def check_journal_matches_state(self) -> None:
        """The counters on `state` equal the journal's for the shift it shows."""
        shift = self.state.get("shift_id")
        if not shift:
            return
        summary = self.journal.summary(int(shift))
        assert int(self.state["good"]) == summary.good
        assert int(self.state["defective"]) == summary.defective
        assert int(self.state["interrupted"]) == summary.interrupted
        assert int(self.state["scrapped"]) == summary.scrapped
