"""The supervisor node: PackML states, the part sequence and the production journal.

It commands devices through their bridges' command topics and reads their latched
status topics; it never talks to a device directly. A part's record is committed to the
journal when the part leaves the machine, in one transaction, and only then counted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from cell_controller.bus.api import Node
from cell_controller.core.config import CellConfig
from cell_controller.core.journal import Journal, JournalError, PartRecord
from cell_controller.core.packml import Command, IllegalCommand, PackMLMachine, State
from cell_controller.core.sequencer import Step, shift_steps
from cell_controller.core.types import DeviceState, DeviceStatus

from . import topics
from .codec import ERROR, OK, WARN, Codec
from .runtime import spin_until_signal, start_node

#: a device whose status is older than this (wall s) counts as offline
STATUS_STALE_S = 1.0
#: resend a command whose acknowledgement has not come within this (wall s)
ACK_TIMEOUT_S = 1.0
#: wait before retrying a rejected command (wall s)
RETRY_S = 0.5
TICK_S = 0.02
#: the longest a weld step (approach, seam, retract) may take, s of cell time
WELD_TIMEOUT_S = 300.0
#: how long Resetting waits for every device to report ready (wall s)
RESET_TIMEOUT_S = 30.0

WELD_RESULT_KEYS = ("arc_energy_kJ", "weld_time_s", "mean_current_A", "mean_voltage_V", "mean_wire_feed_m_min",
                    "mean_travel_speed_mm_s", "bead_width_mm", "penetration_mm")


@dataclass
class PartProgress:
    part_id: str
    started_at: float
    started_stamp_s: float
    weld: dict[str, str] | None = None


class Supervisor:
    """Runs shifts of `parts` parts; the first starts by itself when `auto_start`.

    After a shift it stays in Complete (or Stopped, Aborted) until an operator command.
    """

    def __init__(self, node: Node, config: CellConfig, journal: Journal, parts: int, auto_start: bool):
        self.node, self.config, self.journal = node, config, journal
        self.parts_target, self.auto_start = parts, auto_start
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.packml = PackMLMachine()
        self.packml.on_transition(self._on_transition)
        self.statuses: dict[str, DeviceStatus] = {}
        self.status_seen_at: dict[str, float] = {}
        self.shift_id: int | None = None
        self.shift_running = False
        self.last_finish_stamp_s: float | None = None  # cell time the previous part left the machine
        self.steps: list[Step] = []
        self.step_index = 0
        self.sent_id = 0
        self.steps_sent_for = -1  # the step index whose command is out
        self.sent_at = 0.0
        self.acked = False
        self.step_started_at = 0.0
        self.next_send_at = 0.0
        self.in_progress: dict[str, PartProgress] = {}
        self.parts_done = self.good = 0
        self.last_part = ("", "")
        self.state_since = time.monotonic()
        self.commands = {r: node.create_publisher(t.type, t.name, t.qos)
                         for r in topics.ROLES for t in [topics.device_command(r)]}
        self.state_pub = node.create_publisher(topics.CELL_STATE.type, topics.CELL_STATE.name, topics.CELL_STATE.qos)
        for role in topics.ROLES:
            t = topics.device_status(role)
            node.create_subscription(t.type, t.name, lambda msg, role=role: self._on_status(role, msg), t.qos)
        c = topics.CELL_COMMAND
        node.create_subscription(c.type, c.name, lambda msg: self.command(msg.data.strip().lower(), "operator"), c.qos)
        node.create_timer(TICK_S, self.tick)
        self._publish_state()

    # -- inputs ---------------------------------------------------------------------------
    def _on_status(self, role: str, msg) -> None:
        self.statuses[role] = self.codec.read_device_status(msg)
        self.status_seen_at[role] = time.monotonic()

    def command(self, command: str, source: str) -> None:
        try:
            self.packml.command(command)
        except IllegalCommand as error:
            self.log.warning("%s command refused: %s", source, error)
            self._event("info", source, f"refused: {error}")

    # -- the PackML loop ------------------------------------------------------------------
    def online(self) -> dict[str, DeviceStatus]:
        """Statuses of devices heard from recently and not offline."""
        now = time.monotonic()
        return {r: s for r, s in self.statuses.items()
                if now - self.status_seen_at[r] < STATUS_STALE_S and s.state is not DeviceState.OFFLINE}

    def tick(self) -> None:
        state = self.packml.state
        online = self.online()
        if state is State.STOPPED and self.auto_start and self.shift_id is None:
            self.command(Command.RESET, "auto_start")
        elif state is State.RESETTING:
            if len(online) == len(topics.ROLES) and all(s.state is not DeviceState.FAULT for s in online.values()):
                self.packml.state_complete()
            elif time.monotonic() - self.state_since > RESET_TIMEOUT_S:
                missing = sorted(set(topics.ROLES) - set(online))
                self._fault("supervisor", f"devices not ready after {RESET_TIMEOUT_S:.0f} s: {missing}", Command.ABORT)
        elif state is State.IDLE and self.auto_start and self.shift_id is None:
            self.command(Command.START, "auto_start")
        elif state is State.STARTING:
            self._begin_shift()
        elif state is State.EXECUTE:
            self._execute(online)
        elif state is State.COMPLETING:
            self._end_shift("complete")
        elif state in (State.HOLDING, State.STOPPING, State.ABORTING):
            self._send_now("robot", "stop_program", ())
            if state is not State.HOLDING:
                self._end_shift("stopped" if state is State.STOPPING else "aborted")
            else:
                self.packml.state_complete()
        elif state in (State.UNHOLDING, State.CLEARING):
            self.packml.state_complete()

    def _begin_shift(self) -> None:
        try:
            self.shift_id = self.journal.begin_shift(self.parts_target, self.config.config_hash)
            self.shift_running = True
        except JournalError as error:
            self._fault("journal", str(error), Command.ABORT)
            return
        first = self.journal.next_part_number()
        part_ids = [f"P{n:06d}" for n in range(first, first + self.parts_target)]
        self.steps = shift_steps(part_ids, WELD_TIMEOUT_S)
        self.step_index = 0
        self._event("info", "supervisor", f"shift {self.shift_id}: parts {part_ids[0]}..{part_ids[-1]}")
        self.packml.state_complete()

    def _end_shift(self, status: str) -> None:
        if self.shift_running:
            self.shift_running = False
            try:
                self.journal.end_shift(self.shift_id, status)
            except JournalError as error:
                self.log.error("could not end the shift: %s", error)
        self.packml.state_complete()

    def _execute(self, online: dict[str, DeviceStatus]) -> None:
        missing = [r for r in topics.ROLES if r not in online]
        faulted = [r for r, s in online.items() if s.state is DeviceState.FAULT and r != "feeder"]
        if missing or faulted:
            self._fault("supervisor", f"devices offline: {missing}, faulted: {faulted}", Command.HOLD)
            return
        if self.step_index >= len(self.steps):
            self.packml.state_complete()
            return
        step = self.steps[self.step_index]
        now = time.monotonic()
        if self.steps_sent_for != self.step_index:
            if now >= self.next_send_at and step.ready(online):
                self._send(step)
            return
        status = online[step.device]
        if status.values.get("last_command_id") == str(self.sent_id):
            result = status.values.get("last_command_result", "")
            if result == "Pending":
                return
            if result != "Accepted":
                self._event("info", step.device, f"{step.name} {result}; retrying")
                self.steps_sent_for, self.next_send_at = -1, now + RETRY_S
                return
            self.acked = True
        elif now - self.sent_at > ACK_TIMEOUT_S:
            self._publish_command(step.device, step.command, step.args)  # resend the same id
        if self.acked and step.done(online):
            self._step_done(step, online)
        elif now - self.step_started_at > step.timeout_s / self.config.time_scale:
            self._fault(step.device, f"step {step.name} timed out", Command.ABORT)

    def _send(self, step: Step) -> None:
        self.sent_id += 1
        self.steps_sent_for = self.step_index
        self.acked = False
        self.step_started_at = time.monotonic()
        if step.name == "feed":
            part_id = step.args[0]
            self.in_progress[part_id] = PartProgress(part_id, time.time(), self._stamp("feeder"))
        self._publish_command(step.device, step.command, step.args)

    def _publish_command(self, device: str, command: str, args: tuple[str, ...]) -> None:
        self.sent_at = time.monotonic()
        values = {"id": str(self.sent_id), **{f"arg{i}": a for i, a in enumerate(args)}}
        self.commands[device].publish(self.codec.status(device, command, OK, values))

    def _send_now(self, device: str, command: str, args: tuple[str, ...]) -> None:
        self.sent_id += 1
        self._publish_command(device, command, args)

    def _stamp(self, role: str) -> float:
        status = self.statuses.get(role)
        return float(status.values.get("stamp_s", 0.0)) if status else 0.0

    def _step_done(self, step: Step, online: dict[str, DeviceStatus]) -> None:
        if step.name == "weld":
            part_id = step.args[1]
            self.in_progress[part_id].weld = dict(online["welder"].values)
        for part_id in step.finishes:
            if not self._record(part_id):
                return
        self.step_index += 1

    def _record(self, part_id: str) -> bool:
        progress = self.in_progress[part_id]
        weld = progress.weld or {}
        finish_stamp_s = self._stamp("feeder")
        imperfections = tuple(i for i in weld.get("imperfections", "").split(",") if i)
        level = weld.get("iso5817_level", "fail")
        record = PartRecord(
            part_id=part_id, shift_id=self.shift_id or 0, started_at=progress.started_at, finished_at=time.time(),
            cycle_time_s=finish_stamp_s - (self.last_finish_stamp_s or progress.started_stamp_s),
            **{k: float(weld.get(k, "nan")) for k in WELD_RESULT_KEYS},
            imperfections=imperfections, iso5817_level=level, good=level in ("B", "C"),
            weld_policy=self.config.policies.weld, feed_policy=self.config.policies.feed,
            backends={d.kind.role: d.backend.value for d in self.config.devices.values()},
            config_hash=self.config.config_hash,
        )
        try:
            self.journal.record_part(record)
        except JournalError as error:
            self._fault("journal", f"{part_id} not recorded: {error}", Command.HOLD)
            return False
        del self.in_progress[part_id]
        self.last_finish_stamp_s = finish_stamp_s
        self.parts_done += 1
        self.good += record.good
        self.last_part = (part_id, level)
        self.log.info("part %s done: ISO 5817 %s %s", part_id, level, ",".join(imperfections))
        self._publish_state()
        return True

    # -- outputs --------------------------------------------------------------------------
    def _fault(self, source: str, detail: str, reaction: Command) -> None:
        self.log.error("%s: %s -> %s", source, detail, reaction.value)
        self._event("fault", source, detail)
        self.command(reaction, source)

    def _event(self, kind: str, source: str, detail: str) -> None:
        try:
            self.journal.log_event(self.shift_id, kind, source, detail)
        except JournalError as error:
            self.log.error("event not journaled (%s): %s", error, detail)

    def _on_transition(self, old: State, new: State, cause: str) -> None:
        self.state_since = time.monotonic()
        self.log.info("PackML %s -> %s (%s)", old.value, new.value, cause)
        self._event("state", "packml", f"{old.value} -> {new.value} ({cause})")
        self._publish_state()

    def _publish_state(self) -> None:
        step = self.steps[self.step_index].name if self.step_index < len(self.steps) else ""
        level = {State.ABORTED: ERROR, State.HELD: WARN, State.ABORTING: ERROR}.get(self.packml.state, OK)
        values = {
            "state": self.packml.state.value, "shift_id": str(self.shift_id or ""),
            "parts_done": str(self.parts_done), "parts_target": str(self.parts_target),
            "good": str(self.good), "defective": str(self.parts_done - self.good),
            "last_part_id": self.last_part[0], "last_quality": self.last_part[1], "step": step,
        }
        self.state_pub.publish(self.codec.status("cell", self.packml.state.value, level, values))

    def stop(self) -> None:
        """SIGINT/SIGTERM: stop the robot's program (arc off) and close the shift as stopped."""
        if self.packml.state not in (State.STOPPED, State.STOPPING, State.ABORTED, State.ABORTING, State.CLEARING):
            self.command(Command.STOP, "signal")
        self.tick()
        self.journal.close()


def main(argv: list[str] | None = None) -> None:
    node, config, params = start_node("supervisor", argv, lambda n, c: {
        "parts": n.declare_parameter("parts", 0),
        "auto_start": n.declare_parameter("auto_start", True),
        "journal": n.declare_parameter("journal", ""),
    })
    journal = Journal(params["journal"] or config.journal_path)
    supervisor = Supervisor(node, config, journal, params["parts"] or config.parts_per_shift, params["auto_start"])
    spin_until_signal(node, supervisor.stop)
