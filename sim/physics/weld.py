"""GMAW (MAG) weld process twin: arc, thermal field, bead, imperfections.

The twin's other parts have modules of their own: the joint it welds (``joint``: geometry, seeded
generator), the melt pool's 3-D corrected field and fused zone (``pool``), the ISO 5817 limits and
levels (``iso5817``) and the graded report of a weld (``weld_report``).  Frame (as in ``joint``):
x [mm] along the seam from its start, y [mm] lateral from the *programmed* path, + = left of
travel, z [mm] depth from the top face.

Procedure
---------
The nominal procedure is 24 V, 8 m/min (≈ 230 A), 10 mm/s (HI ≈ 440 J/mm): at
the brief's 7 mm/s (630 J/mm) a 5 mm single-side butt without backing melts
through over ~8 mm width in this model and burns through.

Arc (constant-voltage source, 1.2 mm G3Si1 / ER70S-6 wire, M21 Ar-18CO2,
contact-tip-to-work distance ≈ 15 mm).  Current follows the wire feed by the
self-regulation of the CV arc; we use the linear fit of typical manufacturer
procedure charts for 1.2 mm solid wire (≈ 130 A at 3 m/min, 230 A at 8 m/min,
310 A at 12 m/min) with a small voltage term (a longer arc shortens the
electrode extension, so less resistive heating and a little more current)::

    I [A] = 70 + 20 · WFS [m/min] + 3 · (U [V] − 24)

The wire feeder follows the command with a first-order lag (τ = 60 ms).

Heat input (EN 1011-1, ISO/TR 17671-1): HI = k · U · I / v with k = 0.8 for
GMAW, in J/mm for v in mm/s; the power into the plate q = k · U · I drives the
thermal model (``thermal.ThermalWindow``).

Bead geometry
-------------
* Fusion width and penetration come from the melt isotherm (solidus 1450 °C)
  of a 3-D field that is the 2-D FD field plus a *3-D correction*; the joint is fused to
  depth z when the melt at z reaches both groove faces (``pool`` states the correction and its
  honest limits: widths and depths are good to roughly ±15 %, the *trends* are what the
  controller can rely on).
* Arc in the gap: in an open root the arc burns down into the gap, so the
  fused zone is shifted down by ``GAP_ARC_DEPTH_FACTOR · gap`` (empirical; it
  is the well-known rise of penetration and burn-through risk with root gap).
* Deposit area (wire mass balance): A = ε · π d_w² / 4 · WFS / v, ε = 0.95.
* Root: with full penetration the molten root of span s (melt width at the
  root face, at least the gap) is held by surface tension γ against the
  metallostatic and arc pressure p = ρ_l g d + μ0 I² / (4 π² r_a²) (arc
  pressure after Lin & Eagar, spray-arc radius r_a = 3 mm).  A cylindrical meniscus of radius R = γ / p holds while
  s < 2 R (otherwise burn-through); its sag h_r = R − √(R² − s²/4) is the
  excess penetration, and its area (2/3) s h_r comes out of the deposit.
* Reinforcement (parabolic cap over the fusion width b):
  h = 1.5 · (A − gap · d_fused − A_root) / b; negative → incompletely filled groove.

Imperfections (ISO 6520-1 reference numbers) and their causes in the model
----------------------------------------------------------------------------
=========================== ===== ===============================================
name                        6520  model
=========================== ===== ===============================================
incomplete_penetration      4021  joint penetration < thickness (low heat input,
                                  travel too fast, torch off the joint)
lack_of_fusion              401   the far groove face is not fused at the top face
                                  (torch off the joint by ~ half the bead width)
joint_missed                –     the fused zone does not reach the near groove face
burn_through                510   root meniscus span ≥ 2 γ / p (heat input too high,
                                  wide gap)
excess_penetration          504   root sag h_r (see above)
undercut                    5011  h_u = 0.15 mm/V · max(0, U − U_c(I) − 1 V)
                                  + 0.08 mm/(mm/s) · max(0, v − 10 mm/s), with the
                                  conventional GMAW load line U_c = 14 + 0.05 I
                                  (EN IEC 60974-1): a long arc and fast travel melt
                                  the toes without filling them (empirical fit)
excess_weld_metal           502   reinforcement h (wire feed too high for travel)
incompletely_filled_groove  511   negative reinforcement
porosity                    2012  projected pore area [%]: 0.5 %/(L/min) below
                                  10 L/min, 0.3 %/(L/min) above 20 L/min
                                  (turbulent entrainment of air), plus rare seeded
                                  contamination of a joint (oil, primer, rust)
linear_misalignment         507   the joint's mismatch
=========================== ===== ===============================================

Their ISO 5817 limits and levels are in ``iso5817``; ``weld_report.grade_weld`` grades a weld's trace.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from ..reality_gap import NOMINAL, RealityGap
from . import weld_kernel as kernel
from .arc import ARC_EFFICIENCY_GMAW, JOINT_THERMAL_FACTOR, current_from_wire_feed, heat_input_J_mm
from .joint import JointGeometry
from .pool import N_DEPTH_LEVELS, XI_BEHIND_MM, analysis_grid_mm, correction_3d, speed_bucket_mm_s
from .thermal import MILD_STEEL, SteelProperties, ThermalWindow, substeps
from .weld_report import WeldReport, grade_weld

__all__ = [
    "ProcessSample",
    "WeldProcess",
    "WeldBatch",
    "NominalProcedure",
    "NOMINAL_PROCEDURE",
    "PARAMETER_LIMITS",
    "run_fixed_recipe",
]


@dataclass(frozen=True)
class NominalProcedure:
    """The cell's fixed welding procedure (WPS) for 5 mm mild steel, 1.2 mm G3Si1, M21."""

    voltage_V: float = 24.0
    wire_feed_m_min: float = 8.0
    travel_speed_mm_s: float = 10.0
    torch_offset_mm: float = 0.0
    gas_flow_l_min: float = 15.0
    wire_diameter_mm: float = 1.2
    thickness_mm: float = 5.0

    @property
    def current_A(self) -> float:
        return current_from_wire_feed(self.wire_feed_m_min, self.voltage_V, self.wire_diameter_mm)

    @property
    def heat_input_J_mm(self) -> float:
        return heat_input_J_mm(self.voltage_V, self.current_A, self.travel_speed_mm_s)


NOMINAL_PROCEDURE = NominalProcedure()

#: Limits the process accepts (name → (min, max)); ``WeldProcess.step`` raises ValueError outside.
PARAMETER_LIMITS: dict[str, tuple[float, float]] = {
    "dt_s": (1e-4, 0.1),
    "voltage_V": (14.0, 36.0),
    "wire_feed_m_min": (2.0, 16.0),
    "travel_speed_mm_s": (1.0, 25.0),
    "torch_offset_mm": (-15.0, 15.0),
    "gas_flow_l_min": (0.0, 40.0),
}


def _check(name: str, value: float) -> float:
    lo, hi = PARAMETER_LIMITS[name]
    v = float(value)
    if not (lo <= v <= hi):  # also rejects NaN
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


# --------------------------------------------------------------------------------------------
# process
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessSample:
    """Sensor readings of one step (noisy; latency where the real sensor has it).

    Power-source readings (actual_*) are averaged over the step with noise;
    ``pool_width_mm`` is a coaxial-camera estimate, 40 ms old; the laser-line
    tracker measures gap and seam offset (vs the programmed path, + = left)
    ``TRACKER_LOOKAHEAD_MM`` ahead of the torch; ``torch_position_mm`` is along
    the seam; ``arc_energy_J`` = ∫ U I dt so far (not multiplied by k).
    """

    actual_current_A: float
    actual_voltage_V: float
    actual_wire_feed_m_min: float
    arc_power_W: float
    pool_width_mm: float
    tracker_gap_mm: float
    tracker_seam_offset_mm: float
    torch_position_mm: float
    arc_energy_J: float
    time_s: float = 0.0


#: batches of at least this many welds step them in parallel over numba's threads by default
PARALLEL_FROM_WELDS = 2
#: the noise rows drawn ahead at a time, per weld (numpy's draws in a block are the same numbers as one per step)
NOISE_BLOCK_STEPS = 256


class WeldBatch:
    """N welds, one per slot, advanced together: one kernel call per control step (``weld_kernel``).

    ``start(e, joint, seed, ...)`` begins a weld in slot ``e`` with the arguments of ``WeldProcess``;
    ``step(dt_s, voltage_V, ...)`` takes arrays (N,) of commands and advances every slot of
    ``active`` (in parallel over the slots), returning the sensor readings ``sample`` (N, 10), columns
    as ``weld_kernel.SAMPLE_FIELDS``. A slot's weld gives the same numbers as a ``WeldProcess`` of the
    same joint, seed and commands (``WeldProcess`` is a batch of one). Every joint of a batch has
    ``joint_points`` samples; ``capacity_steps`` steps per weld, more with ``growable``.
    """

    def __init__(self, n: int, joint_points: int, capacity_steps: int, *, dx_mm: float = 0.5, growable: bool = False,
                 parallel: bool | None = None):
        if n < 1:
            raise ValueError(f"a batch has at least one weld, got n={n!r}")
        self.n, self.dx_mm, self.growable = int(n), float(dx_mm), growable
        #: step the slots over numba's threads (default: from PARALLEL_FROM_WELDS welds on); the same numbers
        self.parallel = self.n >= PARALLEL_FROM_WELDS if parallel is None else bool(parallel)
        window = ThermalWindow(5.0, dx_mm=self.dx_mm)  # the grid: the same for every plate and property
        self.nx, self.ny, self.xl_mm, self.y_mm = window.nx, window.ny, window.x_mm - window.x0_mm, window.y_mm
        self.params = np.full((n, kernel.N_PARAMS), math.nan)
        self.state = np.zeros((n, kernel.N_STATE))
        self.state[:, kernel.S_DONE] = 1.0  # no weld started
        self.T = np.empty((n, self.nx, self.ny))
        self.buf = np.empty_like(self.T)
        self.gx = np.empty((n, 1, self.nx))
        self.gy = np.empty((n, 1, self.ny))
        xi_mm, y_mm = analysis_grid_mm(self.dx_mm)
        self.corr = np.empty((n, xi_mm.size, y_mm.size, N_DEPTH_LEVELS))
        self.z = np.zeros((n, N_DEPTH_LEVELS))
        self.scratch = np.zeros((n, 4, N_DEPTH_LEVELS))
        self.gap_mm = np.zeros((n, joint_points))
        self.offset_mm = np.zeros((n, joint_points))
        self.trace = np.zeros((n, capacity_steps, len(kernel.TRACE_FIELDS)))
        self.noise = np.zeros((n, capacity_steps, kernel.NOISE_COLUMNS))
        self.sample = np.zeros((n, len(kernel.SAMPLE_FIELDS)))
        #: each slot's joint as welded (seen from the actual torch path) and plate properties (after its gap)
        self.joints: list[JointGeometry | None] = [None] * n
        self.props: list[SteelProperties] = [MILD_STEEL] * n
        self._thermal_thickness_mm = np.zeros(n)
        self._corr_bucket = np.full(n, math.nan)  # the speed bucket of each slot's correction, mm/s
        self._noise_from: list[tuple[np.random.Generator, np.random.Generator, float] | None] = [None] * n

    def start(self, e: int, joint: JointGeometry, seed: int, wire_diameter_mm: float = 1.2, *,
              props: SteelProperties = MILD_STEEL, sensor_noise: bool = True, feeder_time_constant_s: float = 0.06,
              pool_camera_latency_s: float = 0.04, gap: RealityGap = NOMINAL) -> None:
        """Begin a new weld of ``joint`` in slot ``e`` (see ``WeldProcess`` for the arguments)."""
        if not wire_diameter_mm > 0:
            raise ValueError(f"wire_diameter_mm must be > 0, got {wire_diameter_mm!r}")
        if joint.gap_mm.shape[0] != self.gap_mm.shape[1]:
            raise ValueError(f"the batch's joints have {self.gap_mm.shape[1]} points, this one "
                             f"{joint.gap_mm.shape[0]} (length {joint.length_mm} mm, spacing {joint.spacing_mm} mm)")
        welded = replace(joint, seam_offset_mm=joint.seam_offset_mm - gap.robot_path_error_mm)
        scaled = props.scaled(gap.conductivity_factor, gap.diffusivity_factor)
        thermal_thickness_mm = JOINT_THERMAL_FACTOR * joint.thickness_mm
        window = ThermalWindow(thermal_thickness_mm, props=scaled, dx_mm=self.dx_mm)
        n_sub = substeps(PARAMETER_LIMITS["dt_s"][1], window.alpha, self.dx_mm, window.r_max)
        if n_sub > self.gx.shape[1]:
            self.gx = np.empty((self.n, n_sub, self.nx))
            self.gy = np.empty((self.n, n_sub, self.ny))
        contamination = welded.contamination_mm or (math.nan, math.nan)
        k = kernel
        p = self.params[e]
        p[[k.P_LENGTH_MM, k.P_THICKNESS_MM, k.P_SPACING_MM]] = welded.length_mm, welded.thickness_mm, welded.spacing_mm
        p[[k.P_CONTAMINATION_FROM_MM, k.P_CONTAMINATION_TO_MM]] = contamination
        p[k.P_WIRE_DIAMETER_MM] = float(wire_diameter_mm) + gap.wire_diameter_error_mm
        p[k.P_CURRENT_FACTOR] = gap.current_factor
        p[k.P_ARC_EFFICIENCY] = ARC_EFFICIENCY_GMAW * gap.arc_efficiency_factor
        p[k.P_FEEDER_TAU_S] = float(feeder_time_constant_s)
        p[k.P_CAMERA_LATENCY_S] = float(pool_camera_latency_s) + gap.camera_latency_extra_s
        p[[k.P_CURRENT_BIAS_A, k.P_VOLTAGE_BIAS_V, k.P_TRACKER_BIAS_MM]] = (
            gap.current_sensor_bias_A, gap.voltage_sensor_bias_V, gap.tracker_bias_mm)
        p[[k.P_SOLIDUS_C, k.P_AMBIENT_C]] = scaled.solidus_C, scaled.ambient_C
        p[[k.P_DIFFUSIVITY_MM2_S, k.P_AMP_PER_W, k.P_LOSS_PER_S]] = window.alpha, window.amp_per_W, window.loss_per_s
        p[[k.P_DX_MM, k.P_SIGMA_MM, k.P_R_MAX, k.P_BEHIND_CELLS]] = (
            self.dx_mm, window.sigma_mm, window.r_max, window.behind_cells)
        p[k.P_XI_LO] = -int(round(XI_BEHIND_MM / self.dx_mm))
        self.state[e] = 0.0
        self.state[e, k.S_WIRE_FEED_M_MIN] = math.nan  # the wire feeder starts on its first command
        self.state[e, k.S_WINDOW_X0_MM] = window.x0_mm
        self.T[e] = window.T
        self.z[e] = np.linspace(0.0, thermal_thickness_mm, N_DEPTH_LEVELS)
        self.gap_mm[e], self.offset_mm[e] = welded.gap_mm, welded.seam_offset_mm
        self.joints[e], self.props[e], self._thermal_thickness_mm[e] = welded, scaled, thermal_thickness_mm
        self._corr_bucket[e] = math.nan
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x57E9]))
        # the gap's extra tracker noise draws from a stream of its own: the model's noise stays the same
        gap_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6A9]))
        self._noise_from[e] = (rng, gap_rng, gap.tracker_noise_mm) if sensor_noise else None
        self._draw_noise(e, 0, self.noise.shape[1])

    def _draw_noise(self, e: int, first: int, last: int) -> None:
        """Sensor noise of steps [first, last) of slot e's weld (zero without sensor noise)."""
        source = self._noise_from[e]
        if source is None:
            self.noise[e, first:last] = 0.0
            return
        rng, gap_rng, tracker_noise_mm = source
        self.noise[e, first:last, :6] = rng.standard_normal((last - first, 6))
        self.noise[e, first:last, 6:] = gap_rng.standard_normal((last - first, 2)) * tracker_noise_mm

    def _grow(self) -> None:
        old = self.trace.shape[1]
        new = old + NOISE_BLOCK_STEPS
        self.trace = np.concatenate([self.trace, np.zeros((self.n, new - old, self.trace.shape[2]))], axis=1)
        self.noise = np.concatenate([self.noise, np.zeros((self.n, new - old, self.noise.shape[2]))], axis=1)
        for e in range(self.n):
            self._draw_noise(e, old, new)

    def _prepare(self, slots: np.ndarray, travel_speed_mm_s: np.ndarray) -> None:
        """Before ``slots`` step at these travel speeds [mm/s]: none done, room in the traces, and each one's 3-D
        correction for its speed bucket (computed, or found in ``pool``'s cache, only when the bucket changes)."""
        done = slots[self.state[slots, kernel.S_DONE] != 0.0]
        if done.size:
            raise RuntimeError(f"the weld in slot {done[0]} is done (torch reached the seam end), or none was started")
        if np.any(self.state[slots, kernel.S_STEPS] >= self.trace.shape[1]):
            if not self.growable:
                raise RuntimeError(f"the weld in slot {slots[np.argmax(self.state[slots, kernel.S_STEPS])]} has "
                                   f"taken its {self.trace.shape[1]} steps")
            self._grow()
        buckets = speed_bucket_mm_s(travel_speed_mm_s)
        changed = buckets != self._corr_bucket[slots]
        for e, speed_mm_s in zip(slots[changed], travel_speed_mm_s[changed]):
            self.corr[e] = correction_3d(float(speed_mm_s), self._thermal_thickness_mm[e], self.dx_mm, self.props[e])
        self._corr_bucket[slots] = buckets

    def _kernel_arrays(self) -> tuple:
        return (self.params, self.state, self.T, self.buf, self.gx, self.gy, self.xl_mm, self.y_mm, self.corr,
                self.z, self.scratch, self.gap_mm, self.offset_mm, self.trace, self.noise, self.sample)

    def step_one(self, e: int, dt_s: float, voltage_V: float, wire_feed_m_min: float, travel_speed_mm_s: float,
                 torch_offset_mm: float, gas_flow_l_min: float) -> np.ndarray:
        """Advance slot e alone (checked commands, see ``WeldProcess.step``); its sample row."""
        self._prepare(np.array([e]), np.array([travel_speed_mm_s]))
        kernel.step_joint(e, dt_s, voltage_V, wire_feed_m_min, travel_speed_mm_s, torch_offset_mm, gas_flow_l_min,
                          *self._kernel_arrays())
        return self.sample[e]

    def step(self, dt_s: float, voltage_V: np.ndarray, wire_feed_m_min: np.ndarray, travel_speed_mm_s: np.ndarray,
             torch_offset_mm: np.ndarray, gas_flow_l_min: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Advance every slot of ``active`` (default all) by ``dt_s`` [s] with its commands (arrays (N,), units
        as ``WeldProcess.step``); ValueError naming the command and the slot outside ``PARAMETER_LIMITS``."""
        active = np.ones(self.n, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        dt = _check("dt_s", dt_s)
        commands = {"voltage_V": voltage_V, "wire_feed_m_min": wire_feed_m_min, "travel_speed_mm_s": travel_speed_mm_s,
                    "torch_offset_mm": torch_offset_mm, "gas_flow_l_min": gas_flow_l_min}
        arrays = {}
        for name, values in commands.items():
            values = np.asarray(values, dtype=float)
            lo, hi = PARAMETER_LIMITS[name]
            bad = np.flatnonzero(active & ~((lo <= values) & (values <= hi)))  # NaN is outside
            if bad.size:
                raise ValueError(f"{name} of slot {bad[0]} must be in [{lo}, {hi}], got {float(values[bad[0]])!r}")
            arrays[name] = values
        slots = np.flatnonzero(active)
        self._prepare(slots, arrays["travel_speed_mm_s"][slots])
        step = kernel.step_joints_parallel if self.parallel else kernel.step_joints
        step(active, dt, *arrays.values(), *self._kernel_arrays())
        return self.sample

    def steps(self, e: int) -> int:
        return int(self.state[e, kernel.S_STEPS])

    def done(self, e: int) -> bool:
        return bool(self.state[e, kernel.S_DONE])

    def trace_of(self, e: int) -> dict[str, np.ndarray]:
        """Slot e's per-step model values (true, noise-free; copies), keyed as ``weld_kernel.TRACE_FIELDS``."""
        rows = self.trace[e, :self.steps(e)]
        return {name: rows[:, i].copy() for i, name in enumerate(kernel.TRACE_FIELDS)}

    def last_values(self, e: int, keys: Iterable[str]) -> dict[str, float]:
        """The newest step's value of each trace field in ``keys`` (``WeldProcess.last_values``)."""
        k = self.steps(e)
        if k == 0:
            raise IndexError(f"the weld in slot {e} has taken no step")
        row = self.trace[e, k - 1]
        return {key: float(row[_TRACE_INDEX[key]]) for key in keys}

    def result(self, e: int) -> WeldReport:
        """Slot e's weld graded so far (``weld_report.grade_weld``)."""
        return grade_weld(self.trace_of(e), self.joints[e], complete=self.done(e),
                          arc_energy_J=float(self.state[e, kernel.S_ARC_ENERGY_J]))

    def temperature_field(self, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x_mm, y_mm, T_C[x, y]) of slot e's thermal window (copies; plate frame)."""
        return self.state[e, kernel.S_WINDOW_X0_MM] + self.xl_mm, self.y_mm.copy(), self.T[e].copy()


_TRACE_INDEX = {name: i for i, name in enumerate(kernel.TRACE_FIELDS)}


class WeldProcess:
    """One weld of one joint, advanced step by step by the controller (or a fixed recipe).

    ``step`` moves the torch along the seam by travel_speed · dt, runs the arc
    model, the thermal field and the bead model, and returns the sensor sample.
    Deterministic for a given joint and ``seed`` (sensor noise, contamination).
    It is a ``WeldBatch`` of one: a weld gives the same numbers here and in a batch.

    ``gap`` (``reality_gap.RealityGap``) makes it a real plant's weld rather than the model's: the arc
    efficiency, the current characteristic, the plate's conductivity and diffusivity, the wire's
    actual diameter, the robot's path error (``joint`` is welded as seen from the actual torch path:
    ``self.joint``), the tracker's bias and extra noise, the camera's extra latency and the power
    source's current and voltage reading biases. ``NOMINAL`` (the default) changes nothing.
    """

    def __init__(self, joint: JointGeometry, seed: int, wire_diameter_mm: float = 1.2, *,
                 props: SteelProperties = MILD_STEEL, dx_mm: float = 0.5, sensor_noise: bool = True,
                 feeder_time_constant_s: float = 0.06, pool_camera_latency_s: float = 0.04,
                 gap: RealityGap = NOMINAL, batch_slot: tuple[WeldBatch, int] | None = None) -> None:
        """``batch_slot`` (batch, e): weld in slot e of that batch, which ``WeldBatch.step`` then steps with the
        others (this object still reads it, and ``step`` steps it alone); default: a batch of its own."""
        if batch_slot is None:
            batch_slot = (WeldBatch(1, joint.gap_mm.shape[0], NOISE_BLOCK_STEPS, dx_mm=dx_mm, growable=True), 0)
        elif batch_slot[0].dx_mm != dx_mm:
            raise ValueError(f"the batch's grid is dx {batch_slot[0].dx_mm} mm, this weld's {dx_mm} mm")
        self._batch, self._e = batch_slot
        self._batch.start(self._e, joint, seed, wire_diameter_mm, props=props, sensor_noise=sensor_noise,
                          feeder_time_constant_s=feeder_time_constant_s, pool_camera_latency_s=pool_camera_latency_s,
                          gap=gap)
        self.reality_gap = gap
        self.joint = self._batch.joints[self._e]
        self.seed = int(seed)
        self.props = self._batch.props[self._e]
        self.wire_diameter_mm = float(self._batch.params[self._e, kernel.P_WIRE_DIAMETER_MM])
        self.arc_efficiency = float(self._batch.params[self._e, kernel.P_ARC_EFFICIENCY])
        self.snapshot: tuple[np.ndarray, np.ndarray, np.ndarray, float, float] | None = None

    @property
    def x_mm(self) -> float:
        """Torch position along the seam [mm]."""
        return float(self._batch.state[self._e, kernel.S_X_MM])

    @property
    def time_s(self) -> float:
        """Weld time so far [s]."""
        return float(self._batch.state[self._e, kernel.S_TIME_S])

    @property
    def arc_energy_J(self) -> float:
        """∫ U I dt so far [J] (not multiplied by k)."""
        return float(self._batch.state[self._e, kernel.S_ARC_ENERGY_J])

    @property
    def done(self) -> bool:
        """The torch has reached the seam end."""
        return self._batch.done(self._e)

    # ----------------------------------------------------------------------------------
    def step(self, dt_s: float, voltage_V: float, wire_feed_m_min: float, travel_speed_mm_s: float,
             torch_offset_mm: float, gas_flow_l_min: float = 15.0) -> ProcessSample:
        """Advance the weld by ``dt_s`` [s] with the commanded voltage [V], wire feed [m/min],
        travel speed [mm/s], lateral torch offset from the programmed path [mm, + = left] and
        shielding-gas flow [L/min].  Raises ValueError outside ``PARAMETER_LIMITS`` and
        RuntimeError once ``done``."""
        if self.done:
            raise RuntimeError("the weld is done (torch reached the seam end)")
        y_t = _check("torch_offset_mm", torch_offset_mm)
        sample = self._batch.step_one(self._e, _check("dt_s", dt_s), _check("voltage_V", voltage_V),
                                      _check("wire_feed_m_min", wire_feed_m_min),
                                      _check("travel_speed_mm_s", travel_speed_mm_s), y_t,
                                      _check("gas_flow_l_min", gas_flow_l_min))
        x_to = self.x_mm
        if self.snapshot is None and x_to >= 0.5 * self.joint.length_mm:
            self.snapshot = (*self.temperature_field(), x_to, y_t)
        return ProcessSample(*sample.tolist())

    # ----------------------------------------------------------------------------------
    @property
    def trace(self) -> dict[str, np.ndarray]:
        """Per-step model values (true, noise-free), keyed as ``weld_kernel.TRACE_FIELDS``."""
        return self._batch.trace_of(self._e)

    def last_values(self, keys: Iterable[str]) -> dict[str, float]:
        """The newest step's true (noise-free) value of each trace field named in ``keys``.

        Reads the trace in place (``trace`` copies every field).  Each field name carries its unit:
        ``x_mm`` torch position along the seam [mm], ``time_s`` [s], ``voltage_V`` [V], ``current_A`` [A],
        ``wire_feed_m_min`` actual wire feed [m/min], ``travel_speed_mm_s`` [mm/s], ``gas_flow_l_min``
        [L/min], ``heat_input_J_mm`` k · U · I / v [J/mm], ``width_mm``, ``penetration_mm``,
        ``joint_penetration_mm``, ``root_width_mm``, ``reinforcement_mm`` (negative: underfill),
        ``root_sag_mm``, ``undercut_mm``, ``gap_mm``, ``seam_error_mm`` (seam relative to the torch,
        + = left) [mm], ``deposit_area_mm2`` [mm²], ``porosity_pct`` [% projected area],
        ``root_span_ratio`` [1]; ``burn_through``, ``lack_of_fusion``, ``joint_missed`` are flags, 1.0 or
        0.0.  KeyError for a name not in the trace, IndexError before the first step.
        """
        return self._batch.last_values(self._e, keys)

    def result(self) -> WeldReport:
        """Per-segment bead geometry, imperfections and the ISO 5817 level of the weld so far
        (``weld_report.grade_weld``)."""
        return self._batch.result(self._e)

    def temperature_field(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x_mm, y_mm, T_C[x, y]) of the current thermal window (copies; plate frame)."""
        return self._batch.temperature_field(self._e)


def run_fixed_recipe(joint: JointGeometry, seed: int, procedure: NominalProcedure = NOMINAL_PROCEDURE,
                     dt_s: float = 0.02, **kwargs) -> WeldProcess:
    """Weld ``joint`` with the fixed procedure (no feedback); returns the finished process."""
    p = WeldProcess(joint, seed, procedure.wire_diameter_mm, **kwargs)
    while not p.done:
        p.step(dt_s, procedure.voltage_V, procedure.wire_feed_m_min, procedure.travel_speed_mm_s,
               procedure.torch_offset_mm, procedure.gas_flow_l_min)
    return p
