"""`cellctl calibrate --bag DIR`: fit the twin's physical parameters to a recorded cell's welds.

The recording is a rosbag2 (MCAP) bag of a running cell (`cellctl record`) whose welder was a plant
(`cell-twin --plant`, real hardware, or a twin with `twin.parameters`). It must hold, under the cell
description's namespace, `welder/process` (the power source's readings and the pool camera),
`weld/setpoints` (what the cell commanded) and `robot/seam_tracker` (gap, offset, progress and the
travel speed the robot runs). Each span of samples with the arc on is one weld (`read_welds`).

The fit, in three steps, each on the signals that carry its parameters (`calibrate`):

1. **Commands to effect.** The setpoints answer a sample and reach the power source a few samples
   later: the delay is the one (0..`MAX_COMMAND_DELAY_STEPS`) whose voltage readings follow the
   commanded voltage best; the voltage reading's bias is their mean difference.
2. **The arc's current** (`arc.current_from_wire_feed` times `current_factor`, a wire of
   `wire_diameter_error_mm`): the arc power the power source reports is U·I of the arc itself, linear
   in the factor and the factor times the wire's section, a least-squares fit; the current reading's
   offset `current_sensor_bias_A` is then its mean excess over that current. The wire's section parts
   from the factor only when the wire feed varies during the welds (a learned policy's do; a fixed
   recipe's do not: then it is kept at the model's and said so).
3. **The pool** (`arc_efficiency_factor`, `conductivity_factor` with `diffusivity_factor` equal to
   it, and `camera_latency_extra_s`): the twin replays every recorded weld, on a joint whose root gap
   is the tracker's readings, with the recorded commands (`replay`), and scipy's bounded Powell search
   minimises the pool camera's squared error (on the first `THERMAL_FIT_WELDS` welds); the camera's
   latency, a whole number of the twin's steps, is scanned before the search and after it.

The tracker's extra noise is the spread of its successive gap readings beyond the model's. What these
topics cannot tell apart is written as such in the file (`NOT_IDENTIFIED`). The twin's prediction of
each sample, before and after, is the twin replayed on the recorded commands: per sample it predicts
the next reading from the commands up to it, without correcting its state from any measurement (a
one-step prediction of the twin as it runs in the cell). Its error is reported raw (RMSE) and above the
sensors' noise floor (`excess_rmse`), which no model can predict.

Exit codes: 0 written, 1 the fit did not converge (nothing written), 2 bad input (nothing written).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import least_squares, minimize

from cell_controller.core.config import ConfigError, load_cell
from cell_controller.nodes import topics
from cell_controller.sim.devices.twin_server import PHYSICS_DT_S
from cell_controller.sim.physics.arc import TRACKER_LOOKAHEAD_MM, current_from_wire_feed
from cell_controller.sim.physics.joint import NOMINAL_THICKNESS_MM, JointGeometry, generate_joint
from cell_controller.sim.physics.weld import NOMINAL_PROCEDURE, WeldBatch
from cell_controller.sim.physics import weld_kernel as kernel
from cell_controller.sim.reality_gap import NOMINAL, RealityGap, write_parameters

#: the topics a calibration reads, and the one that must hold the welds
TOPICS = (topics.WELD_PROCESS, topics.WELD_SETPOINTS, topics.SEAM_TRACKER)
#: a weld shorter than this many samples is not used (the arc struck and went out)
MIN_WELD_SAMPLES = 50
#: samples a calibration needs in all (about 4 s of welding at 50 Hz)
MIN_SAMPLES = 200
#: the longest delay from a setpoint's answer to the power source that is looked for, samples
MAX_COMMAND_DELAY_STEPS = 10
#: the wire feed must vary this much (standard deviation, m/min) for the wire's section to part from the
#: current's factor
MIN_WIRE_FEED_SPREAD_M_MIN = 0.1
#: a fitted value this far (share of its range) outside its range is taken as the edge (a fit's noise)
EDGE_TOLERANCE = 0.1
#: the shape of the twin's joints (their length: the recorded welds must be this long, mm)
JOINT = generate_joint(0)
#: the pool camera's latency the model has (weld.WeldBatch.start's default), s
MODEL_CAMERA_LATENCY_S = 0.04
#: the sensors' noise the model adds (weld_kernel's sample): current A, pool width mm, tracker mm
MODEL_NOISE = {"current_A": 3.0, "pool_width_mm": 0.3, "tracker_mm": 0.05}
#: parameters these topics do not identify, and why
NOT_IDENTIFIED = {
    "tracker_bias_mm, robot_path_error_mm": "the tracker reads the seam from the torch: a reading bias and a "
                                            "path error add up, only their sum shows (kept at the model's 0)",
    "diffusivity_factor": "the pool width shows the plate's conduction as one factor: fitted equal to "
                          "conductivity_factor",
    "machine_cycle_spread_factor": "a machine's signal, not on the welding topics (kept as it was)",
}


class CalibrationError(ValueError):
    """The bag cannot calibrate the twin; the message names what is missing or wrong."""


class NotConverged(RuntimeError):
    """The fit did not converge; the message says where."""


@dataclass(frozen=True)
class RecordedWeld:
    """One weld's samples as the cell recorded them, one entry per welder sample while the arc burned.

    stamp_s: device time (s); readings: current_A, voltage_V, wire_feed_m_min (m/min), arc_power_W,
    pool_width_mm;
    the commands in effect (after the delay `calibrate` finds, set by `with_delay`): voltage_cmd_V,
    wire_feed_cmd_m_min, torch_offset_mm; travel_speed_mm_s as the robot ran it; the tracker's
    gap_mm at x + its look-ahead and progress (0..1) at each sample; `answers`: each setpoint's sample
    stamp and values, for `with_delay`.
    """

    stamp_s: np.ndarray
    current_A: np.ndarray
    voltage_V: np.ndarray
    wire_feed_m_min: np.ndarray
    arc_power_W: np.ndarray
    pool_width_mm: np.ndarray
    travel_speed_mm_s: np.ndarray
    tracker_gap_mm: np.ndarray
    progress: np.ndarray
    answers: np.ndarray  # (n, 5): sensed_stamp_s, voltage_V, wire_feed_m_min, torch_offset_mm, travel_speed
    voltage_cmd_V: np.ndarray | None = None
    wire_feed_cmd_m_min: np.ndarray | None = None
    torch_offset_mm: np.ndarray | None = None

    @property
    def samples(self) -> int:
        return int(self.stamp_s.size)

    def with_delay(self, steps: int) -> RecordedWeld:
        """The commands in effect at each sample when a setpoint reaches the device `steps` samples after the
        sample it answers (before the first answer: the procedure's)."""
        at = np.searchsorted(self.answers[:, 0] + steps * PHYSICS_DT_S - 1e-6, self.stamp_s, side="right") - 1
        p = NOMINAL_PROCEDURE

        def column(i: int, default: float) -> np.ndarray:
            return np.where(at >= 0, self.answers[np.maximum(at, 0), i], default) if self.answers.size else \
                np.full(self.samples, default)
        return replace(self, voltage_cmd_V=column(1, p.voltage_V), wire_feed_cmd_m_min=column(2, p.wire_feed_m_min),
                       torch_offset_mm=column(3, p.torch_offset_mm))

    def joint(self) -> JointGeometry:
        """The twin's joint for this weld: the root gap the tracker read ahead of the torch (before its first
        reading, that reading), the nominal thickness, the seam on the programmed path."""
        x_mm = np.clip(self.progress, 0.0, 1.0) * JOINT.length_mm + TRACKER_LOOKAHEAD_MM
        order = np.argsort(x_mm, kind="stable")
        gap_mm = np.clip(np.interp(JOINT.x_mm, x_mm[order], self.tracker_gap_mm[order]), 0.0, None)
        return replace(JOINT, thickness_mm=NOMINAL_THICKNESS_MM, gap_mm=gap_mm,
                       seam_offset_mm=np.zeros_like(JOINT.seam_offset_mm), contamination_mm=None)


def read_welds(bag_dir: str | Path, namespace: str) -> list[RecordedWeld]:
    """Every weld in the bag (topics under `namespace`); CalibrationError naming what is missing."""
    from rosbags.rosbag2 import Reader

    bag_dir = Path(bag_dir)
    if not (bag_dir / "metadata.yaml").is_file():
        raise CalibrationError(f"{bag_dir}: not a rosbag2 bag (no metadata.yaml; cellctl record -o DIR writes one)")
    try:
        with Reader(bag_dir) as bag:
            process, setpoints, tracker = _arrays(bag_dir, bag, namespace)
    except CalibrationError:
        raise
    except Exception as error:  # rosbags' errors: a damaged or foreign bag
        raise CalibrationError(f"{bag_dir}: cannot read the bag: {error}") from None
    return _welds(bag_dir, process, setpoints, tracker)


def _arrays(bag_dir: Path, bag, namespace: str) -> tuple[np.ndarray, ...]:
    """The arrays of TOPICS' messages in an open bag, one row per message in the order recorded."""
    from rosbags.typesys import Stores

    from cell_controller.bus.messages import typestore
    from cell_controller.bus.names import resolve_topic

    recorded = {c.topic: c.msgcount for c in bag.connections}
    names = {t: resolve_topic(t.name, namespace, "calibrate") for t in TOPICS}
    missing = [name for name in names.values() if not recorded.get(name)]
    if missing:
        elsewhere = sorted(n for n in recorded if any(n.endswith("/" + t.name) for t in TOPICS))
        hint = f"; the bag has {', '.join(elsewhere)}: recorded from another cell description (namespace " \
               f"{namespace})" if elsewhere else f" (the bag has {', '.join(sorted(recorded)) or 'no topics'})"
        raise CalibrationError(f"{bag_dir}: no messages on {', '.join(missing)}{hint}")
    store = typestore(Stores.ROS2_HUMBLE)
    rows: dict[str, list[np.ndarray]] = {t.name: [] for t in TOPICS}
    by_name = {name: t for t, name in names.items()}
    wanted = [c for c in bag.connections if c.topic in by_name]
    for connection, _stamp_ns, raw in bag.messages(connections=wanted):
        topic = by_name[connection.topic]
        data = np.asarray(store.deserialize_cdr(raw, connection.msgtype).data, dtype=float)
        if data.shape == (len(topic.fields),):
            rows[topic.name].append(data)
    return tuple(np.array(rows[t.name]).reshape(-1, len(t.fields)) for t in TOPICS)


def _column(topic: topics.Topic, name: str) -> int:
    return topic.fields.index(name)


def _welds(bag_dir: Path, process: np.ndarray, setpoints: np.ndarray, tracker: np.ndarray) -> list[RecordedWeld]:
    P, S, T = topics.WELD_PROCESS, topics.WELD_SETPOINTS, topics.SEAM_TRACKER
    process = process[np.all(np.isfinite(process), axis=1)]
    process = process[np.argsort(process[:, _column(P, "stamp_s")], kind="stable")]
    last_of_stamp = np.append(np.diff(process[:, _column(P, "stamp_s")]) > 0, True)
    process = process[last_of_stamp]  # a device sample the bridge published twice (two flushes) counts once
    tracker = tracker[np.all(np.isfinite(tracker), axis=1)]
    tracker = tracker[np.argsort(tracker[:, _column(T, "stamp_s")], kind="stable")]
    answers = setpoints[np.all(np.isfinite(setpoints), axis=1)]
    answers = answers[np.argsort(answers[:, _column(S, "sensed_stamp_s")], kind="stable")]
    answers = answers[:, [_column(S, n) for n in ("sensed_stamp_s", "voltage_V", "wire_feed_m_min",
                                                  "torch_offset_mm", "travel_speed_mm_s")]]
    arc_on = process[:, _column(P, "arc_on")] > 0.5
    edges = np.flatnonzero(np.diff(np.concatenate([[0], arc_on.astype(int), [0]])))
    welds = []
    for first, last in zip(edges[::2], edges[1::2]):
        span = process[first:last]
        if span.shape[0] < MIN_WELD_SAMPLES or tracker.shape[0] == 0:
            continue
        stamp_s = span[:, _column(P, "stamp_s")]
        near = np.clip(np.searchsorted(tracker[:, _column(T, "stamp_s")], stamp_s, side="right") - 1, 0, None)
        seen = tracker[near]
        own = (answers[:, 0] >= stamp_s[0] - 1.0) & (answers[:, 0] <= stamp_s[-1])
        welds.append(RecordedWeld(
            stamp_s=stamp_s, current_A=span[:, _column(P, "current_A")], voltage_V=span[:, _column(P, "voltage_V")],
            wire_feed_m_min=span[:, _column(P, "wire_feed_m_min")], arc_power_W=span[:, _column(P, "arc_power_W")],
            pool_width_mm=span[:, _column(P, "pool_width_mm")],
            travel_speed_mm_s=seen[:, _column(T, "travel_speed_mm_s")], tracker_gap_mm=seen[:, _column(T, "gap_mm")],
            progress=seen[:, _column(T, "progress")], answers=answers[own]))
    samples = sum(w.samples for w in welds)
    if not welds or samples < MIN_SAMPLES:
        raise CalibrationError(f"{bag_dir}: {len(welds)} welds of at least {MIN_WELD_SAMPLES} samples, "
                               f"{samples} samples with the arc on: too short to identify anything (at least "
                               f"{MIN_SAMPLES} samples; record whole welds)")
    lengths_mm = [float(np.sum(w.travel_speed_mm_s[1:] * np.diff(w.stamp_s))) for w in welds]
    if abs(np.median(lengths_mm) - JOINT.length_mm) > 0.15 * JOINT.length_mm:
        raise CalibrationError(f"{bag_dir}: the recorded welds run {np.median(lengths_mm):.0f} mm (median), the "
                               f"twin's seams {JOINT.length_mm:.0f} mm: recorded from another cell description")
    return welds


@dataclass(frozen=True)
class Replay:
    """The twin's prediction of every recorded sample of one weld: current_A (the reading, noise-free) and
    the pool width it saw (`pool_width_at` for a camera latency)."""

    current_A: np.ndarray
    true_pool_width_mm: np.ndarray  # the twin's pool width after each of its steps (step 1 first)
    sample_steps: np.ndarray  # the twin's step after which each recorded sample was taken (1 = the first)

    def pool_width_at(self, latency_s: float) -> np.ndarray:
        """The pool camera's reading of each sample for a camera latency [s] (weld_kernel's sensor)."""
        lag = int(round(latency_s / PHYSICS_DT_S))
        return np.maximum(0.0, self.true_pool_width_mm[np.maximum(self.sample_steps - lag, 1) - 1])


def sample_steps(weld: RecordedWeld) -> np.ndarray:
    """The twin's step (PHYSICS_DT_S each, 1 = the arc's first) after which each sample was taken: the first
    sample's from how far along the seam the torch was (a device publishes every few steps, so the first
    sample of a weld may come several steps after its arc struck), the rest from their stamps."""
    first = max(1, int(round(weld.progress[0] * JOINT.length_mm / (weld.travel_speed_mm_s[0] * PHYSICS_DT_S))))
    return first + np.maximum.accumulate(np.rint((weld.stamp_s - weld.stamp_s[0]) / PHYSICS_DT_S).astype(int))


def replay(welds: Sequence[RecordedWeld], parameters: RealityGap) -> list[Replay]:
    """Every weld replayed in the twin as `parameters`' plant, noise-free, on its recorded commands (delayed:
    `RecordedWeld.with_delay`); one batch of slots stepped together (weld.WeldBatch)."""
    steps = [sample_steps(w) for w in welds]
    total = np.array([s[-1] for s in steps])
    batch = WeldBatch(len(welds), JOINT.gap_mm.shape[0], int(total.max()) + 1)
    commands = np.zeros((len(welds), int(total.max()), 4))  # voltage, wire feed, travel speed, torch offset
    for e, (weld, at) in enumerate(zip(welds, steps)):
        batch.start(e, weld.joint(), 0, NOMINAL_PROCEDURE.wire_diameter_mm, sensor_noise=False, gap=parameters)
        sample_of_step = np.searchsorted(at, np.arange(1, total[e] + 1))
        commands[e, :total[e]] = np.column_stack([weld.voltage_cmd_V, weld.wire_feed_cmd_m_min,
                                                  weld.travel_speed_mm_s, weld.torch_offset_mm])[sample_of_step]
    current = np.zeros((len(welds), int(total.max())))
    gas = np.full(len(welds), NOMINAL_PROCEDURE.gas_flow_l_min)
    for step in range(int(total.max())):
        # a weld whose twin torch reached the seam's end first (its recorded samples run on a few steps)
        # holds its last values
        active = (step < total) & ~np.array([batch.done(e) for e in range(len(welds))])
        current[:, step] = current[:, step - 1] if step else 0.0
        if not active.any():
            continue
        c = commands[:, step]
        sample = batch.step(PHYSICS_DT_S, c[:, 0], c[:, 1], c[:, 2], c[:, 3], gas, active=active)
        current[active, step] = sample[active, 0]
    pool = kernel.TRACE_FIELDS.index("width_mm")
    widths = [batch.trace[e, :batch.steps(e), pool] for e in range(len(welds))]
    return [Replay(current[e, at - 1], np.concatenate([w, np.full(total[e] - w.size, w[-1] if w.size else 0.0)]), at)
            for e, (at, w) in enumerate(zip(steps, widths))]


def command_delay(welds: Sequence[RecordedWeld]) -> tuple[int, float]:
    """(the setpoints' delay to the power source in samples, the voltage reading's bias V): the delay whose
    commanded voltage the readings follow best, and their mean difference at it."""
    spread = []
    for steps in range(MAX_COMMAND_DELAY_STEPS + 1):
        residual = np.concatenate([w.voltage_V - w.with_delay(steps).voltage_cmd_V for w in welds])
        spread.append((float(np.var(residual)), steps, float(np.mean(residual))))
    _, steps, bias_V = min(spread)
    return steps, bias_V


def current_characteristic(welds: Sequence[RecordedWeld], voltage_bias_V: float) -> tuple[dict[str, float], list[str]]:
    """current_factor and wire_diameter_error_mm from the arc power the power source reports (U·I of the
    arc itself, no current-sensor offset in it: bounded least squares of arc.current_from_wire_feed times
    the voltage, within the parameters' ranges), then current_sensor_bias_A as the current readings' mean excess over that current;
    and what the welds could not tell apart. Samples whose voltage reading does not follow the command in
    effect (a setpoint that came a sample later than most) are left out."""
    power_W, current_A, wire_feed, voltage_V = (np.concatenate([getattr(w, name) for w in welds]) for name in (
        "arc_power_W", "current_A", "wire_feed_m_min", "voltage_cmd_V"))
    residual_V = np.concatenate([w.voltage_V for w in welds]) - voltage_bias_V - voltage_V
    spread_V = 1.4826 * float(np.median(np.abs(residual_V - np.median(residual_V))))
    kept = np.abs(residual_V) <= 3.0 * max(spread_V, 1e-6)
    power_W, current_A, wire_feed, voltage_V = power_W[kept], current_A[kept], wire_feed[kept], voltage_V[kept]
    unknown = []
    nominal_mm = NOMINAL_PROCEDURE.wire_diameter_mm
    ranges = RealityGap.ranges()
    fitted = ("current_factor", "wire_diameter_error_mm")
    if np.std(wire_feed) < MIN_WIRE_FEED_SPREAD_M_MIN:
        unknown.append(f"current_factor, wire_diameter_error_mm: the wire feed hardly varied ({np.std(wire_feed):.2f} "
                       "m/min standard deviation): one pair that gives the arc's current, not the pair")

    def arc_current_A(x: np.ndarray) -> np.ndarray:
        return x[0] * current_from_wire_feed(wire_feed, voltage_V, nominal_mm + x[1])

    fit = least_squares(lambda x: voltage_V * arc_current_A(x) - power_W, np.array([1.0, 0.0]),
                        bounds=tuple(zip(*(ranges[n] for n in fitted))))
    values = dict(zip(fitted, (float(v) for v in fit.x)))
    values["current_sensor_bias_A"] = float(np.mean(current_A - arc_current_A(fit.x)))
    return values, unknown


def tracker_noise_mm(welds: Sequence[RecordedWeld]) -> float:
    """The tracker's noise beyond the model's (mm): from the spread of successive gap readings."""
    steps = np.concatenate([np.diff(w.tracker_gap_mm) for w in welds])
    return math.sqrt(max(0.0, float(np.var(steps)) / 2.0 - MODEL_NOISE["tracker_mm"] ** 2))


def pool_mse(welds: Sequence[RecordedWeld], replays: Sequence[Replay], extra_latency_s: float) -> float:
    """The pool width's mean squared error of the replays for a camera latency beyond the model's (mm^2)."""
    measured = np.concatenate([w.pool_width_mm for w in welds])
    predicted = np.concatenate([r.pool_width_at(MODEL_CAMERA_LATENCY_S + extra_latency_s) for r in replays])
    return float(np.mean((predicted - measured) ** 2))


def camera_latency_s(welds: Sequence[RecordedWeld], replays: Sequence[Replay]) -> float:
    """The camera latency beyond the model's (s, a whole number of the twin's steps within its range) whose
    pool widths the recorded ones follow best."""
    low, high = RealityGap.ranges()["camera_latency_extra_s"]
    candidates = [n * PHYSICS_DT_S for n in range(int(round(low / PHYSICS_DT_S)), int(round(high / PHYSICS_DT_S)) + 1)]
    return min(candidates, key=lambda extra_s: pool_mse(welds, replays, extra_s))


@dataclass(frozen=True)
class Errors:
    """The twin's prediction errors on the recorded samples: RMSE and RMSE above the noise floor."""

    current_rmse_A: float
    pool_width_rmse_mm: float
    current_excess_A: float
    pool_width_excess_mm: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def prediction_errors(welds: Sequence[RecordedWeld], parameters: RealityGap,
                      floor: dict[str, float] | None = None) -> tuple[Errors, dict[str, float]]:
    """The twin as `parameters` replayed on the welds: its errors, and the noise floor they were measured
    against (estimated, when not given, from the successive differences of its own residuals)."""
    replays = replay(welds, parameters)
    latency_s = MODEL_CAMERA_LATENCY_S + parameters.camera_latency_extra_s
    residual = {"current": [w.current_A - r.current_A for w, r in zip(welds, replays)],
                "pool": [w.pool_width_mm - r.pool_width_at(latency_s) for w, r in zip(welds, replays)]}
    if floor is None:
        floor = {k: float(np.var(np.concatenate([np.diff(x) for x in parts])) / 2.0) for k, parts in residual.items()}
    mse = {k: float(np.mean(np.concatenate(parts) ** 2)) for k, parts in residual.items()}
    return Errors(math.sqrt(mse["current"]), math.sqrt(mse["pool"]), math.sqrt(max(0.0, mse["current"] - floor["current"])),
                  math.sqrt(max(0.0, mse["pool"] - floor["pool"]))), floor


@dataclass(frozen=True)
class Calibration:
    """A calibration's outcome: the fitted plant, and what the file records of how."""

    parameters: RealityGap
    delay_steps: int
    before: Errors
    after: Errors
    not_identified: dict[str, str]
    welds: int
    samples: int
    fit_s: float
    evaluations: int


THERMAL = ("arc_efficiency_factor", "conductivity_factor")
#: the welds the pool's search replays (the first ones; every weld is replayed for the errors): the
#: parameters are the plant's, not a weld's, and each replay of the search costs the same again
THERMAL_FIT_WELDS = 10


def calibrate(welds: Sequence[RecordedWeld], *, max_evaluations: int = 250,
              thermal_fit_welds: int = THERMAL_FIT_WELDS) -> Calibration:
    """Fit the twin's parameters to `welds` (module docstring), the pool's on the first `thermal_fit_welds`;
    NotConverged when the pool's fit does not converge or runs into a parameter's range."""
    started = time.monotonic()
    delay_steps, voltage_bias_V = command_delay(welds)
    welds = [w.with_delay(delay_steps) for w in welds]
    electrical, unknown = current_characteristic(welds, voltage_bias_V)
    ranges = RealityGap.ranges()
    for name, value in electrical.items():
        low, high = ranges[name]
        margin = EDGE_TOLERANCE * (high - low)
        if low - margin <= value <= high + margin:
            electrical[name] = float(np.clip(value, low, high))  # a fit's noise at the edge of the range
        else:
            raise NotConverged(f"the current's fit gives {name} = {value:.4g}, outside its range [{low:g}, {high:g}]: "
                               "the recorded welder is not one the twin's parameters describe")
    base = replace(NOMINAL, **electrical, voltage_sensor_bias_V=float(np.clip(voltage_bias_V, *ranges["voltage_sensor_bias_V"])),
                   tracker_noise_mm=float(np.clip(tracker_noise_mm(welds), *ranges["tracker_noise_mm"])))
    evaluations = 0

    def plant(x: np.ndarray) -> RealityGap:
        return replace(base, arc_efficiency_factor=float(x[0]), conductivity_factor=float(x[1]),
                       diffusivity_factor=float(x[1]))

    searched = welds[:thermal_fit_welds]

    latency_s = camera_latency_s(searched, replay(searched, plant(np.ones(2))))  # fixed while the search runs:
    # a latency in whole steps would make the search's objective jump

    def objective(x: np.ndarray) -> float:
        nonlocal evaluations
        evaluations += 1
        return pool_mse(searched, replay(searched, plant(x)), latency_s)

    bounds = [ranges[name] for name in THERMAL]
    result = minimize(objective, np.array([1.0, 1.0]), method="Powell", bounds=bounds,
                      options={"xtol": 2e-3, "ftol": 1e-3, "maxfev": max_evaluations})
    if not result.success:
        raise NotConverged(f"the pool width's fit did not converge after {evaluations} replays: {result.message}")
    at_edge = [f"{name} = {value:.4g}" for name, value, (low, high) in zip(THERMAL, result.x, bounds)
               if min(value - low, high - value) < 1e-3 * (high - low)]
    if at_edge:
        raise NotConverged(f"the pool width's fit ran into the edge of the range at {', '.join(at_edge)}: the "
                           "recorded plant is outside what the twin's parameters span")
    fitted = plant(result.x)
    fitted = replace(fitted, camera_latency_extra_s=camera_latency_s(welds, replay(welds, fitted)))
    after, floor = prediction_errors(welds, fitted)
    before, _ = prediction_errors(welds, NOMINAL, floor)
    not_identified = dict(NOT_IDENTIFIED)
    not_identified.update({text.split(":")[0]: text.split(": ", 1)[1] for text in unknown})
    return Calibration(fitted, delay_steps, before, after, not_identified, len(welds),
                       sum(w.samples for w in welds), time.monotonic() - started, evaluations)


def provenance(bag_dir: Path, result: Calibration) -> dict:
    """What the parameter file records of the calibration."""
    return {"bag": str(bag_dir), "welds": result.welds, "samples": result.samples,
            "command_delay_samples": result.delay_steps, "fit_s": round(result.fit_s, 1),
            "replays": result.evaluations, "before": result.before.as_dict(), "after": result.after.as_dict(),
            "not_identified": result.not_identified, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main(argv: Sequence[str] | None = None) -> int:
    """`cellctl calibrate --bag DIR [--config FILE] [-o FILE]`."""
    from cell_controller.cli import default_config

    parser = argparse.ArgumentParser(prog="cellctl calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--bag", required=True, type=Path, help="a bag of the cell (cellctl record -o DIR)")
    parser.add_argument("--config", type=Path, default=default_config(),
                        help="the cell description the bag was recorded from (default: config/cell.yaml)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="the parameter file to write (default: DIR/calibrated.yaml)")
    args = parser.parse_args(argv)
    output = args.output or args.bag / "calibrated.yaml"
    try:
        config = load_cell(args.config)
        welds = read_welds(args.bag, config.namespace)
    except (ConfigError, CalibrationError) as error:
        print(f"cellctl calibrate: {error}", file=sys.stderr)
        return 2
    print(f"{len(welds)} welds, {sum(w.samples for w in welds)} samples with the arc on")
    try:
        result = calibrate(welds)
    except NotConverged as error:
        print(f"cellctl calibrate: {error}; nothing written", file=sys.stderr)
        return 1
    write_parameters(output, result.parameters, provenance(args.bag, result))
    _print(result)
    print(f"parameters: {output} (name it in the cell description's twin.parameters, or cellctl train weld --params)")
    return 0


def _print(result: Calibration) -> None:
    p = result.parameters
    print(f"fitted in {result.fit_s:.0f} s ({result.evaluations} replays); setpoints reach the welder "
          f"{result.delay_steps} samples after the sample they answer")
    for name in ("arc_efficiency_factor", "conductivity_factor", "current_factor", "wire_diameter_error_mm",
                 "current_sensor_bias_A", "voltage_sensor_bias_V", "camera_latency_extra_s", "tracker_noise_mm"):
        print(f"  {name:<26} {getattr(p, name):.4g}")
    b, a = result.before, result.after
    print(f"prediction error      uncalibrated   calibrated   (above the noise floor: {b.current_excess_A:.2f} -> "
          f"{a.current_excess_A:.2f} A, {b.pool_width_excess_mm:.3f} -> {a.pool_width_excess_mm:.3f} mm)")
    print(f"  current RMSE        {b.current_rmse_A:8.2f} A    {a.current_rmse_A:8.2f} A")
    print(f"  pool width RMSE     {b.pool_width_rmse_mm:8.3f} mm   {a.pool_width_rmse_mm:8.3f} mm")
    for what, why in result.not_identified.items():
        print(f"  not identified: {what}: {why}")
