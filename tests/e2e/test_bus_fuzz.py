"""The cell across processes under rogue messages on its bus: a participant of its own (`bus_fuzzer.py`,
a separate process on the cell's domain and namespace) publishes on the topics the nodes subscribe to
from outside them while a shift runs, in four phases. The first three publish on weld/setpoints,
feeder/infeed, command and every <role>/command (never on heartbeat): garbage and out-of-range
messages of the topics' types; oversized ones (arrays of 1e6 doubles, strings of some MB, 20000
key-values); samples no typed publisher sends (strings that are not UTF-8, malformed CDR). Never a
legitimate command: no command text the supervisor takes, no device verb a bridge knows, no blank
release. The fourth is a rogue second writer of `heartbeat`: garbage and extreme values, and samples
cut short, under a foreign encapsulation or with trailing bytes, every value >= ROGUE_HEARTBEAT.

What is shown, for each of the first three phases:
- every process of the cell keeps running, and no node logs a traceback;
- nothing unchecked reaches a device: every setpoint the twin's servers show meanwhile (their data
  changes, sampled at 10 ms) is finite and inside the cell description's device limits;
- the cell stays in Execute and no device's watchdog trips; the supervisor accepts no rogue `command`
  text and the bridges execute no rogue goal. Under oversized samples alone a Hold is accepted when its
  reason is a tripped watchdog or a stale device: on a loaded 2-core machine, decoding MB-sized samples
  can delay a bridge past the device's watchdog or its stale bound (fail-safe, not a crash or a bad value);
  that phase runs with `-m slow` only.
And for the garbage phase: the cell keeps producing (parts are recorded); the supervisor answers the
rogue commands with refusals and the bridges the rogue goals with InvalidArgument; the bridges count
what they clamped (`clamped_<field>` in their status) and log every array they reject. For the wire
phase: the nodes that read the strings that are not UTF-8 (the supervisor, every bridge) drop and log
them (`dropped N samples that do not decode`).

For the rogue heartbeat writer, the fail-safe (a second heartbeat writer alive: nobody can tell which is
the cell's supervisor, so none is trusted). It publishes until the supervisor is Held (at most SECONDS):
- no device's watchdog ever shows a value the rogue sent;
- every device's watchdog trips within TRIP_WITHIN_S of the rogue's first heartbeat and stays tripped
  while the rogue runs, and the arc is off by then; every bridge logs the heartbeats it did not pass on;
- the supervisor (its `state` on the bus) goes from Execute (through Holding) to Held within
  HELD_WITHIN_S of the rogue's first heartbeat, and says why: a device whose watchdog tripped;
- meanwhile the northbound server shows Undefined, "the supervisor is not running" (the MES trusts no
  heartbeat either), and once the rogue is gone, Held with the supervisor's reason;
- every process keeps running and no node logs a traceback;
- after the rogue, the watchdogs untrip, the operator's Unhold (again, until the cell takes it) is
  accepted, the cell is back in Execute and records a part again.

The bridges' rate limit lets a setpoint move SETPOINT_RATE_SLACK ticks' worth from what the device
holds: at the default time scale one tick's worth is wider than the limits themselves, so the largest
change between two data changes is printed, not checked.

Every phase runs even when an earlier one found a problem (a Held cell is unheld first), unless a
process died; the test fails at the end with every problem found.
"""
from __future__ import annotations

import asyncio
import json
import math
import re
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cell_controller.bridges import SETPOINTS
from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.packml import State
from cell_controller.core.shield import SETPOINT_RATE_SLACK
from cell_controller.nodes import topics
from cell_controller.opcua.address_space import (
    CONTROLLER_HEARTBEAT, PACKML_ADMIN, PACKML_COMMANDS, WATCHDOG_TRIPPED, WELDER_ROOT, packml_spec, spec_for,
)

from .bus_fuzzer import ROGUE_HEARTBEAT
from .running import STATE, RunningCell, connect, read, until_state

pytestmark = pytest.mark.e2e

FUZZER = Path(__file__).with_name("bus_fuzzer.py")
PARTS = 1000
#: the setpoints watched on the twin's servers: path -> (role, limit name)
WATCHED = {s.path: (s.role, s.limit) for s in SETPOINTS.values()}
#: the bridge fields the rogue messages carry out of range: each must have been clamped
CLAMPED = tuple(f for f in SETPOINTS if f in topics.WELD_SETPOINTS.fields + topics.INFEED.fields)
BRIDGES_WITH_SETPOINTS = ("robot_bridge", "welder_bridge", "feeder_bridge")
BRIDGES = tuple(f"{role}_bridge" for role in topics.ROLES)
MALFORMED_LOGGED = "rejected a malformed or non-finite message"
DROPPED_LOGGED = "samples that do not decode"
REFUSED_LOGGED = "heartbeats not passed to the watchdog"
PHASES = {"typed": "garbage and out-of-range messages", "oversized": "oversized messages",
          "wire": "samples no typed publisher sends", "heartbeat": "a rogue heartbeat writer"}
STOP_REASON = f"{PACKML_ADMIN}/StopReason/Message"
ARC_ON = f"{WELDER_ROOT}/ActualValues/ArcOn"
#: every device's watchdog trips (and the arc is off) within this long of the rogue's first heartbeat, s
TRIP_WITHIN_S = 1.5
#: ... and untrips within this long of the rogue's end, s
UNTRIP_WITHIN_S = 5.0
#: the cell Held, the supervisor says why (a device's status shows its watchdog tripped), within this long
#: of the rogue's first heartbeat, s: the trip (TRIP_WITHIN_S) and the next status of its bridge
HELD_REASON = re.compile(r"^\w+: its watchdog tripped \(the supervisor's heartbeat does not reach it\): "
                         r"it stopped itself$")
HELD_WITHIN_S = 2.0
#: the only ways oversized samples may take the cell out of Execute: a watchdog they delayed tripped, or
#: a bridge they delayed saw its device's life-sign go stale
FAIL_SAFE_HOLD = re.compile(r"\w+: its watchdog tripped|\w+ stale: ")
#: the states the rogue stops at (the first one the supervisor reaches ends the phase)
ROGUE_UNTIL = (State.HELD.value, State.SUSPENDED.value, State.STOPPED.value, State.ABORTED.value,
               State.COMPLETE.value)
#: what the northbound server shows while no single heartbeat writer is alive (mes.SUPERVISOR_GONE),
#: from at most this long after the rogue's first heartbeat, s
SUPERVISOR_GONE = (0, "the supervisor is not running")
GONE_WITHIN_S = 1.0


def _state_name(number: int) -> str:
    return next((s.value for s in State if s.number == number), f"state {number}")


def _parts_recorded(config: CellConfig) -> int:
    with sqlite3.connect(config.journal_path, timeout=10) as db:
        return db.execute("SELECT COUNT(*) FROM parts").fetchone()[0]


def _log(cell: RunningCell, name: str) -> str:
    path = cell.cell.log_dir / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _dead(cell: RunningCell, phase: str) -> str | None:
    """Which processes died, with the tail of their logs; None: every one is running."""
    dead = {name: p.poll() for name, p in cell.cell.processes.items() if p.poll() is not None}
    if not dead:
        return None
    return f"{phase}: processes died: {dead}\n" + "\n".join(
        f"--- {name}.log (exit {rc}) ---\n{_tail(_log(cell, name), 25)}" for name, rc in dead.items())


def _tracebacks(cell: RunningCell) -> dict[str, str]:
    logs = {name: _log(cell, name) for name in cell.cell.processes if name != "twin"}
    return {name: text[text.index("Traceback"):][:3000] for name, text in logs.items() if "Traceback" in text}


class Watch:
    """What the twin's servers show (data changes): every setpoint value and heartbeat a watchdog gets while
    recording, every change of a watchdog's Tripped and of the welder's ArcOn; and every cell state (with its
    stop reason) the MES shows while the fuzzer runs."""

    def __init__(self, arc: bool = False) -> None:
        self.values: dict[str, list[float]] = {path: [] for path in WATCHED}
        self.rogue_heartbeats: dict[str, list[int]] = {role: [] for role in topics.ROLES}
        #: every change of a device's WATCHDOG_TRIPPED: (time.monotonic(), tripped), recording or not
        self.trips: dict[str, list[tuple[float, bool]]] = {role: [] for role in topics.ROLES}
        self.arc: list[tuple[float, bool]] = [(0.0, arc)]  # the welder's ArcOn: (time.monotonic(), on)
        self.states: Counter[int] = Counter()
        self.shown: list[tuple[float, int, str]] = []  # (time.monotonic(), state, stop reason) the MES showed
        self.left_execute: str | None = None  # when and why the cell first left Execute
        self.recording = False

    def reset(self) -> None:
        self.__init__(self.arc[-1][1])

    def arc_at(self, t: float) -> bool:
        return [on for since, on in self.arc if since <= t][-1]

    def on_value(self, role: str, path: str, value, good: bool) -> None:
        if good and path == WATCHDOG_TRIPPED:
            self.trips[role].append((time.monotonic(), bool(value)))
        if good and path == ARC_ON:
            self.arc.append((time.monotonic(), bool(value)))
        if not good or not self.recording:
            return
        if path == CONTROLLER_HEARTBEAT:
            if value >= ROGUE_HEARTBEAT:
                self.rogue_heartbeats[role].append(value)
        elif path in self.values:
            self.values[path].append(value)

    def tripped(self) -> dict[str, int]:
        """How often each device's watchdog tripped since the last reset."""
        return {role: sum(t for _, t in changes) for role, changes in self.trips.items()}

    def outside_limits(self, config: CellConfig) -> dict[str, list]:
        bad = {}
        for path, seen in self.values.items():
            role, limit_name = WATCHED[path]
            limit = config.device(role).limits.get(limit_name)
            out = [v for v in seen if not isinstance(v, (int, float)) or not math.isfinite(v)
                   or (limit is not None and not limit.contains(v))]
            if out:
                bad[path] = out[:20]
        return bad

    def figures(self, config: CellConfig) -> dict[str, str]:
        out = {}
        for path, values in self.values.items():
            role, limit_name = WATCHED[path]
            name = path.rsplit("/", 1)[-1]
            if not values:
                out[name] = "no change"
                continue
            jump = max((abs(b - a) for a, b in zip(values, values[1:])), default=0.0)
            rate = config.policies.rate_limits_per_s.get(limit_name)
            tick_s = config.time_scale / config.device(role).publishing_rate_Hz
            allowed = f" (the bridge's step {SETPOINT_RATE_SLACK * rate * tick_s:.3g})" if rate is not None else ""
            out[name] = (f"{len(values)} values in [{min(values):.4g}, {max(values):.4g}] "
                         f"{config.device(role).limits[limit_name].unit}, largest change {jump:.3g}{allowed}")
        return out


async def _fuzz(cell: RunningCell, mes, watch: Watch, tmp_path: Path, mode: str, seconds: float,
                seed: int, until: tuple[str, ...] = ()) -> dict:
    """Run the fuzzer in `mode` for `seconds` (less once the supervisor is in a state of `until`),
    watching the cell's state; the fuzzer's report."""
    report_path, log_path = tmp_path / f"fuzz-{mode}.json", tmp_path / f"fuzzer-{mode}.log"
    env = {**cell.cell.environ, **cell.plan.environment, "PYTHONUNBUFFERED": "1"}
    spawned_at = time.monotonic()
    with open(log_path, "w") as log:
        fuzzer = await asyncio.create_subprocess_exec(
            sys.executable, str(FUZZER), cell.config.namespace, str(seconds), str(seed), str(report_path),
            "--mode", mode, *(("--until", ",".join(until)) if until else ()), env=env, stdout=log,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
        deadline = time.monotonic() + seconds + 60
        started = time.monotonic()
        watch.recording = True
        try:
            while fuzzer.returncode is None:
                assert time.monotonic() < deadline, "the fuzzer did not end"
                shown = await mes.read([STATE, STOP_REASON])
                state = shown[STATE]
                watch.states[state] += 1
                watch.shown.append((time.monotonic(), state, shown[STOP_REASON]))
                if state != State.EXECUTE.number and watch.left_execute is None:
                    watch.left_execute = (f"{_state_name(state)} {time.monotonic() - started:.1f} s after the "
                                          f"fuzzer started: {shown[STOP_REASON]}")
                try:
                    await asyncio.wait_for(fuzzer.wait(), 0.1)
                except asyncio.TimeoutError:
                    pass
        finally:
            watch.recording = False
            if fuzzer.returncode is None:
                fuzzer.kill()
                await fuzzer.wait()
    assert fuzzer.returncode == 0, f"the fuzzer failed: {_tail(log_path.read_text())}"
    return {**json.loads(report_path.read_text()), "spawned_at": spawned_at}


def _problems(cell: RunningCell, watch: Watch, report: dict, mode: str, figures: dict) -> list[str]:
    """What the phase `mode` found wrong (its processes are alive)."""
    config, phase = cell.config, PHASES[mode]
    problems = []
    if not all(n > 0 for n in report["readers"].values()):
        problems.append(f"{phase}: a topic without readers: {report['readers']}")
    if not all(report["published"][t] for t in report["readers"]):
        problems.append(f"{phase}: nothing published on some topic: {report['published']}")
    if bad := watch.outside_limits(config):
        problems.append(f"{phase}: setpoints outside the device limits reached the devices: {bad}")
    if topics.HEARTBEAT.name in report["readers"]:
        problems.append(f"{phase}: the fuzzer wrote heartbeats: {report['published'][topics.HEARTBEAT.name]}")
    seen = {_state_name(k): v for k, v in watch.states.items()}
    if mode == "oversized" and watch.left_execute and FAIL_SAFE_HOLD.search(watch.left_execute):
        pass  # decoding MB-sized samples delayed a bridge's heartbeat past the watchdog: the fail-safe Hold
    elif any((tripped := watch.tripped()).values()):
        problems.append(f"{phase}: devices' watchdogs tripped: {tripped}")
    if set(watch.states) != {State.EXECUTE.number} and not (
            mode == "oversized" and watch.left_execute and FAIL_SAFE_HOLD.search(watch.left_execute)):
        problems.append(f"{phase}: the cell left Execute (states sampled {seen}): {watch.left_execute}")
    if report["accepted_commands"]:
        problems.append(f"{phase}: the supervisor accepted rogue commands: {report['accepted_commands']}")
    if any(report["accepted_goals"].values()):
        problems.append(f"{phase}: a bridge executed rogue goals: {report['accepted_goals']}")
    if mode == "typed":
        if figures["parts_recorded"] == 0:
            problems.append(f"{phase}: no part was recorded while the fuzzer ran")
        if not report["command_answers"].get("refused"):
            problems.append(f"{phase}: the supervisor answered no rogue command: {report['last_state']}")
        for role in topics.ROLES:
            if set(report["goal_answers"][role]) != {"InvalidArgument"}:
                problems.append(f"{phase}: the {role} bridge's answers to rogue goals: {report['goal_answers'][role]}")
        clamped = figures["clamped"] = {f: int(report["status"].get(SETPOINTS[f].role, {}).get(f"clamped_{f}", 0))
                                        for f in CLAMPED}
        if not all(clamped.values()):
            problems.append(f"{phase}: a bridge counted nothing clamped: {clamped}")
        rejected = figures["rejected_logged"] = {n: _log(cell, n).count(MALFORMED_LOGGED) for n in BRIDGES_WITH_SETPOINTS}
        if not all(rejected.values()):
            problems.append(f"{phase}: a bridge logged no rejected array: {rejected}")
    if mode == "wire":
        dropped = figures["dropped_logged"] = {n: _log(cell, n).count(DROPPED_LOGGED) for n in ("supervisor", *BRIDGES)}
        if not all(dropped.values()):
            problems.append(f"{phase}: a node logged no sample dropped: {dropped}")
    if tracebacks := _tracebacks(cell):
        problems.append(f"{phase}: tracebacks in the node logs: {tracebacks}")
    return problems


def _rogue_problems(cell: RunningCell, watch: Watch, report: dict, figures: dict, held: tuple[int, str]) -> list[str]:
    """What the rogue heartbeat writer's phase found wrong (its processes are alive); `held`: the state
    and stop reason the northbound server shows once the rogue is gone."""
    phase, name = PHASES["heartbeat"], topics.HEARTBEAT.name
    problems = []
    if list(report["readers"]) != [name] or not report["readers"][name]:
        problems.append(f"{phase}: not the heartbeat alone, or no reader of it: {report['readers']}")
    kinds = {**report["published"][name], **report["errors"].get(name, {})}
    if not all(any(k.startswith(kind) for k in kinds) for kind in ("garbage", "extreme", "cut_short",
                                                                    "foreign_encapsulation", "trailing_bytes")):
        problems.append(f"{phase}: a kind of heartbeat never sent: {kinds}")
    if any(watch.rogue_heartbeats.values()):
        problems.append(f"{phase}: the fuzzer's heartbeats reached the devices' watchdogs: " + ", ".join(
            f"{role} {len(v)} (e.g. {v[:3]})" for role, v in watch.rogue_heartbeats.items() if v))
    first, exited = report["first_published_at"], report["shutdown_at"]
    if first is None:
        return problems + [f"{phase}: the rogue sent no heartbeat: {report['errors']}"]
    trip_s = figures["trip_s"] = {}
    for role, changes in watch.trips.items():
        trips = [t for t, tripped in changes if tripped and t > report["spawned_at"]]
        if not trips:
            problems.append(f"{phase}: the {role}'s watchdog did not trip: {changes}")
            continue
        trip_s[role] = round(trips[0] - first, 3)
        if trip_s[role] > TRIP_WITHIN_S:
            problems.append(f"{phase}: the {role}'s watchdog tripped {trip_s[role]:.2f} s after the rogue's first "
                            f"heartbeat (at most {TRIP_WITHIN_S} s)")
        if fed := [round(t - first, 3) for t, tripped in changes if not tripped and trips[0] < t < exited]:
            problems.append(f"{phase}: the {role}'s watchdog untripped while the rogue ran (s after its first "
                            f"heartbeat): {fed}")
    on_at_trip = watch.arc_at(first + TRIP_WITHIN_S)
    arc_on = [round(t - first, 3) for t, on in watch.arc if on and first + TRIP_WITHIN_S < t < exited]
    was_on = watch.arc_at(first)
    figures["arc"] = "off" if not was_on else \
        f"on, off {next((t for t, on in watch.arc if t > first and not on), math.nan) - first:.3f} s after"
    if on_at_trip or arc_on:
        problems.append(f"{phase}: the arc on while the rogue ran, {TRIP_WITHIN_S} s after its first heartbeat "
                        f"or later: {arc_on or 'still on'}")
    # the supervisor, as it says on the bus (the northbound server trusts no heartbeat meanwhile)
    states = figures["supervisor_states"] = [(round(t - first, 2), s, r) for t, s, r in report["states"]]
    names = [s for _, s, _ in states]
    if names[:1] != [State.EXECUTE.value] or names[-1] != State.HELD.value or \
            set(names[1:-1]) - {State.HOLDING.value}:
        problems.append(f"{phase}: the supervisor did not go from Execute to Held: {states}")
    else:
        held_s, reason = states[-1][0], states[-1][2]
        figures["held"] = f"{held_s:.2f} s after the rogue's first heartbeat: {reason}"
        if not (HELD_REASON.match(reason) and held_s <= HELD_WITHIN_S):
            problems.append(f"{phase}: the cell Held {figures['held']}; expected, within {HELD_WITHIN_S} s, a "
                            "device whose watchdog tripped")
        if held[1] != reason:
            problems.append(f"{phase}: once the rogue was gone the northbound server showed "
                            f"{_state_name(held[0])}: {held[1]}, not the supervisor's Held: {reason}")
    if held[0] != State.HELD.number:
        problems.append(f"{phase}: once the rogue was gone the northbound server showed "
                        f"{_state_name(held[0])}: {held[1]}")
    figures["mes_after"] = f"{_state_name(held[0])}: {held[1]}"
    shown = figures["mes_shown"] = dict(Counter(f"{_state_name(k)}: {r}" for _, k, r in watch.shown))
    early = {(k, r) for t, k, r in watch.shown if t < first + GONE_WITHIN_S}
    late = {(k, r) for t, k, r in watch.shown if first + GONE_WITHIN_S <= t < exited}
    if early - {(State.EXECUTE.number, ""), SUPERVISOR_GONE} or late != {SUPERVISOR_GONE}:
        problems.append(f"{phase}: while the rogue ran the northbound server showed {shown}, not "
                        f"{SUPERVISOR_GONE} from {GONE_WITHIN_S} s after its first heartbeat")
    refused = figures["refused_logged"] = {n: _log(cell, n).count(REFUSED_LOGGED) for n in BRIDGES}
    if not all(refused.values()):
        problems.append(f"{phase}: a bridge logged no heartbeat refused: {refused}")
    if tracebacks := _tracebacks(cell):
        problems.append(f"{phase}: tracebacks in the node logs: {tracebacks}")
    return problems


async def _recover(cell: RunningCell, mes, devices: dict, exited_at: float, figures: dict) -> list[str]:
    """After the rogue: the watchdogs untrip, Unhold (again, until the cell takes it), Execute, parts."""
    phase = PHASES["heartbeat"]
    try:
        while any([await read(client, WATCHDOG_TRIPPED) for client in devices.values()]):
            assert time.monotonic() - exited_at < UNTRIP_WITHIN_S, \
                f"watchdogs still tripped {UNTRIP_WITHIN_S} s after the rogue's end"
            await asyncio.sleep(0.05)
        figures["untripped_s"] = round(time.monotonic() - exited_at, 2)
        figures["unhold_taken_s"] = round(await _unhold(mes), 2)
        await until_state(mes, {State.EXECUTE.number}, 30)
        parts = _parts_recorded(cell.config)
        back = time.monotonic()
        while _parts_recorded(cell.config) == parts:
            assert time.monotonic() - back < 60, "no part recorded within 60 s of Execute"
            await asyncio.sleep(0.2)
        figures["next_part_s"] = round(time.monotonic() - back, 1)
    except AssertionError as error:
        return [f"{phase}: no recovery: {error}"]
    return []


async def _unhold(mes, timeout_s: float = 35.0) -> float:
    """Unhold as an operator would: again, until the cell takes it (refused while a device is not back)."""
    started = time.monotonic()
    while (answer := await mes.call(f"{PACKML_COMMANDS}/Unhold"))[0] != 0:
        assert time.monotonic() - started < timeout_s, f"Unhold refused for {timeout_s} s: {answer}"
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def _back_to_execute(mes, timeout_s: float = 60.0) -> None:
    """Unhold a cell an earlier phase held, as an operator would (again, until the devices are steady)."""
    started = time.monotonic()
    while (state := await read(mes, STATE)) != State.EXECUTE.number:
        assert time.monotonic() - started < timeout_s, f"the cell did not come back to Execute (state {state})"
        if state == State.HELD.number:
            await mes.call(f"{PACKML_COMMANDS}/Unhold")
        await asyncio.sleep(0.5)


async def _scenario(cell: RunningCell, tmp_path: Path, durations: dict[str, float], seed: int,
                    figures: dict) -> list[str]:
    """Each phase in turn while the shift runs; `figures` fills as it goes; the problems found."""
    config = cell.config
    mes = await connect(config.mes.endpoint, packml_spec(), 120)
    devices = {role: await connect(config.device(role).endpoint, spec_for(config.device(role).kind.value))
               for role in topics.ROLES}
    watch = Watch()
    problems: list[str] = []
    try:
        await until_state(mes, {State.EXECUTE.number}, 120)  # the shift starts by itself
        for role, client in devices.items():
            await client.subscribe([CONTROLLER_HEARTBEAT, WATCHDOG_TRIPPED, *([ARC_ON] if role == "welder" else []),
                                    *(p for p, (r, _) in WATCHED.items() if r == role)], 10,
                                   lambda path, value, _, good, role=role: watch.on_value(role, path, value, good))
        await asyncio.sleep(1.0)  # into production
        for n, (mode, seconds) in enumerate(durations.items()):
            await _back_to_execute(mes)
            watch.reset()
            parts_before = _parts_recorded(config)
            report = await _fuzz(cell, mes, watch, tmp_path, mode, seconds, seed + n,
                                 ROGUE_UNTIL if mode == "heartbeat" else ())
            figures[mode] = {"report": report, "setpoints": watch.figures(config), "states": dict(watch.states),
                             "rogue_heartbeats": {r: len(v) for r, v in watch.rogue_heartbeats.items()},
                             "tripped": watch.tripped(), "left_execute": watch.left_execute,
                             "parts_recorded": _parts_recorded(config) - parts_before}
            if dead := _dead(cell, PHASES[mode]):
                problems.append(dead)  # the cell cannot be watched any further
                break
            if mode != "heartbeat":
                problems += _problems(cell, watch, report, mode, figures[mode])
                continue
            await asyncio.sleep(0.5)  # the northbound server sees the one heartbeat writer again
            held = await mes.read([STATE, STOP_REASON])
            problems += _rogue_problems(cell, watch, report, figures[mode], (held[STATE], held[STOP_REASON]))
            problems += await _recover(cell, mes, devices, report["shutdown_at"], figures[mode])
            if dead := _dead(cell, "after " + PHASES[mode]):
                problems.append(dead)
    finally:
        await mes.disconnect()
        for client in devices.values():
            await client.disconnect()
    return problems


def _print(figures: dict) -> None:
    for mode, phase in figures.items():
        report = phase["report"]
        print(f"\n{PHASES[mode]}: {report['seconds']:.1f} s, readers {report['readers']}")
        for topic, kinds in report["published"].items():
            print(f"  {topic}: {sum(kinds.values())} {kinds}")
        if report["errors"]:
            print(f"  not sent: {report['errors']}")
        if mode != "heartbeat":  # (it sends no command nor goal)
            print(f"  supervisor's answers {report['command_answers']}; bridges' answers {report['goal_answers']}")
        states = {_state_name(k): v for k, v in phase["states"].items()}
        print(f"  states sampled {states} (left Execute: {phase['left_execute']}); "
              f"parts recorded {phase['parts_recorded']}")
        for name, line in phase["setpoints"].items():
            print(f"  {name}: {line}")
        print(f"  the fuzzer's heartbeats seen on the devices' watchdogs: {phase['rogue_heartbeats']}; "
              f"watchdog trips {phase['tripped']}")
        if "clamped" in phase:
            print(f"  clamped {phase['clamped']}; rejected arrays logged {phase.get('rejected_logged')}")
        if "dropped_logged" in phase:
            print(f"  samples that do not decode, drops logged {phase['dropped_logged']}")
        if mode == "heartbeat":
            print(f"  watchdogs tripped, s after the rogue's first heartbeat: {phase.get('trip_s')}; the arc "
                  f"{phase.get('arc')}; heartbeats refused logged {phase.get('refused_logged')}")
            print(f"  the supervisor's states (s after the rogue's first heartbeat): {phase.get('supervisor_states')}")
            print(f"  Held {phase.get('held')}")
            print(f"  the northbound server showed {phase.get('mes_shown')}; once the rogue was gone "
                  f"{phase.get('mes_after')}")
            print(f"  after the rogue: watchdogs untripped in {phase.get('untripped_s')} s, Unhold taken after "
                  f"{phase.get('unhold_taken_s')} s, next part {phase.get('next_part_s')} s after Execute")


def _run(cell_file, cell_env, tmp_path: Path, durations: dict[str, float], seed: int) -> None:
    config = load_cell(cell_file(lambda d: d["cell"].update(parts_per_shift=PARTS)))
    cell = RunningCell(config, cell_env, tmp_path / "logs", parts=PARTS)
    figures: dict = {}
    started = time.monotonic()
    try:
        cell.start()
        problems = asyncio.run(_scenario(cell, tmp_path, durations, seed, figures))
    finally:
        cell.stop()
        _print(figures)
        print(f"{time.monotonic() - started:.0f} s in all; logs in {tmp_path / 'logs'}")
    assert not problems, "\n".join(problems)


def test_garbage_out_of_range_and_undecodable_messages_on_every_subscribed_topic(cell_file, cell_env, tmp_path) -> None:
    """The oversized phase runs with `-m slow` only: under the full run's load it holds the cell (safely)."""
    _run(cell_file, cell_env, tmp_path, {"typed": 10, "wire": 3, "heartbeat": 30}, seed=11)


@pytest.mark.slow
def test_garbage_oversized_and_out_of_range_messages_on_every_subscribed_topic_for_minutes(
        cell_file, cell_env, tmp_path) -> None:
    _run(cell_file, cell_env, tmp_path, {"typed": 120, "oversized": 30, "wire": 30, "heartbeat": 60}, seed=12)
