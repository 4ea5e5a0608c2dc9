"""The part sequence the supervisor runs in Execute: feed, clamp, weld, unclamp, machine, release.

Pure logic over device statuses. Each `Step` names the device command to send, a
`ready` condition to wait for before sending it, and a `done` condition that ends it.
Conditions read the level-triggered status each bridge publishes, so a lost or repeated
message never skips or doubles a step. The machine processes part k while the robot
welds part k+1.

Status keys the conditions read (published by the bridges as strings):
  feeder:  state, fixture_part, clamped ("1"/"0"), buffer_count
  robot:   execution (idle|running|done|fault), part_id
  welder:  result_counter, last_part_id
  machine: cycle (idle|running|ended|fault), part_id

Every status also carries the coarse DeviceState under "state" (offline|idle|busy|done|fault).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .types import DeviceState, DeviceStatus

Statuses = dict[str, DeviceStatus]
Condition = Callable[[Statuses], bool]


def _value(statuses: Statuses, role: str, key: str) -> str:
    status = statuses.get(role)
    return status.values.get(key, "") if status else ""


def _idle(statuses: Statuses, role: str) -> bool:
    status = statuses.get(role)
    return status is not None and status.state in (DeviceState.IDLE, DeviceState.DONE)


@dataclass(frozen=True)
class Step:
    """One device command of the sequence (`name` is also the journal's event detail)."""

    name: str
    device: str
    command: str
    args: tuple[str, ...]
    ready: Condition
    done: Condition
    timeout_s: float
    #: part ids whose production is finished when this step is done
    finishes: tuple[str, ...] = field(default=())


def part_steps(part_id: str, previous_part_id: str | None, weld_timeout_s: float) -> list[Step]:
    """The steps that take `part_id` from the buffer into the machine.

    Before the transfer, the previous part (if any) is taken out of the machine once its
    cycle has ended; that release finishes the previous part.
    """
    v = _value
    steps = [
        Step("feed", "feeder", "feed_part", (part_id,),
             ready=lambda s: _idle(s, "feeder") and int(v(s, "feeder", "buffer_count") or 0) > 0
             and not v(s, "feeder", "fixture_part"),
             done=lambda s: _idle(s, "feeder") and v(s, "feeder", "fixture_part") == part_id,
             timeout_s=120.0),
        Step("clamp", "feeder", "clamp", (),
             ready=lambda s: _idle(s, "feeder"),
             done=lambda s: _idle(s, "feeder") and v(s, "feeder", "clamped") == "1",
             timeout_s=10.0),
        Step("weld", "robot", "start_program", ("weld_seam", part_id),
             ready=lambda s: _idle(s, "robot"),
             done=lambda s: v(s, "robot", "execution") == "done" and v(s, "robot", "part_id") == part_id
             and v(s, "welder", "last_part_id") == part_id,
             timeout_s=weld_timeout_s),
        Step("unclamp", "feeder", "unclamp", (),
             ready=lambda s: _idle(s, "feeder"),
             done=lambda s: _idle(s, "feeder") and v(s, "feeder", "clamped") == "0",
             timeout_s=10.0),
    ]
    if previous_part_id is not None:
        steps.append(release_step(previous_part_id))
    steps += [
        Step("transfer", "feeder", "transfer_to_machine", (),
             ready=lambda s: _idle(s, "feeder") and not v(s, "machine", "part_id"),
             done=lambda s: _idle(s, "feeder") and v(s, "machine", "part_id") == part_id,
             timeout_s=30.0),
        Step("machine", "machine", "start_cycle", (part_id,),
             ready=lambda s: v(s, "machine", "part_id") == part_id and v(s, "machine", "cycle") == "idle",
             done=lambda s: v(s, "machine", "cycle") in ("running", "ended") and v(s, "machine", "part_id") == part_id,
             timeout_s=10.0),
    ]
    return steps


def release_step(part_id: str) -> Step:
    """Wait for the machine to end `part_id`'s cycle, then take it out: the part is finished."""
    v = _value
    return Step("release", "feeder", "release", (),
                ready=lambda s: _idle(s, "feeder") and v(s, "machine", "cycle") == "ended"
                and v(s, "machine", "part_id") == part_id,
                done=lambda s: _idle(s, "feeder") and v(s, "machine", "part_id") != part_id,
                timeout_s=120.0, finishes=(part_id,))


def shift_steps(part_ids: list[str], weld_timeout_s: float) -> list[Step]:
    """Every step of a shift producing `part_ids` in order."""
    steps: list[Step] = []
    previous = None
    for part_id in part_ids:
        steps += part_steps(part_id, previous, weld_timeout_s)
        previous = part_id
    if previous is not None:
        steps.append(release_step(previous))
    return steps
