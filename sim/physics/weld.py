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
from .joint import JointGeometry
from .pool import N_DEPTH_LEVELS, XI_BEHIND_MM, correction_3d, pool_geometry
from .thermal import MILD_STEEL, SteelProperties, ThermalWindow
from .weld_report import WeldReport, grade_weld

__all__ = [
    "ProcessSample",
    "WeldProcess",
    "NominalProcedure",
    "NOMINAL_PROCEDURE",
    "PARAMETER_LIMITS",
    "ARC_EFFICIENCY_GMAW",
    "current_from_wire_feed",
    "heat_input_J_mm",
    "deposit_area_mm2",
    "run_fixed_recipe",
]

# --------------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------------
ARC_EFFICIENCY_GMAW = 0.8  # EN 1011-1 thermal efficiency factor k
DEPOSITION_EFFICIENCY = 0.95  # ε, GMAW solid wire 0.9..0.98
TRACKER_LOOKAHEAD_MM = 30.0

GAP_ARC_DEPTH_FACTOR = 1.0  # the fused zone shifts down by this × gap (arc burning into the open root)
#: thermal thickness of the joint / plate thickness: 1.0 for the butt joint.  A single-run fillet on a
#: T-joint sinks heat into three legs (EN 1011-2 Annex D, 2-D shape factor F2 = 0.67, i.e. t / 0.67 ≈ 1.5 t)
JOINT_THERMAL_FACTOR = 1.0
SURFACE_TENSION_N_M = 1.8  # liquid steel (≈ 1.6–1.9 N/m)
LIQUID_DENSITY_KG_M3 = 7000.0
ARC_RADIUS_MM = 3.0  # spray-arc radius for the arc pressure
MU0 = 4e-7 * math.pi


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


def current_from_wire_feed(wire_feed_m_min: float, voltage_V: float = 24.0, wire_diameter_mm: float = 1.2) -> float:
    """Welding current [A] of the CV arc for wire feed [m/min] and voltage [V] (1.2 mm G3Si1 fit).

    Other wire diameters scale the WFS term by the wire cross-section (same
    current density at the same melting rate), a rough first-order scaling.
    """
    s = (wire_diameter_mm / 1.2) ** 2
    return 70.0 + 20.0 * wire_feed_m_min * s + 3.0 * (voltage_V - 24.0)


def heat_input_J_mm(voltage_V: float, current_A: float, travel_speed_mm_s: float, k: float = ARC_EFFICIENCY_GMAW) -> float:
    """Heat input HI = k · U · I / v [J/mm] (EN 1011-1; k = 0.8 for GMAW)."""
    return k * voltage_V * current_A / travel_speed_mm_s


def deposit_area_mm2(wire_feed_m_min: float, travel_speed_mm_s: float, wire_diameter_mm: float = 1.2,
                     efficiency: float = DEPOSITION_EFFICIENCY) -> float:
    """Deposited cross-section A = ε · π d² / 4 · WFS / v [mm²] (wire mass balance)."""
    return efficiency * math.pi * wire_diameter_mm ** 2 / 4.0 * (wire_feed_m_min * 1000.0 / 60.0) / travel_speed_mm_s


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


_TRACE_FIELDS = ("x_mm", "time_s", "voltage_V", "current_A", "wire_feed_m_min", "travel_speed_mm_s", "gas_flow_l_min",
                 "heat_input_J_mm", "width_mm", "penetration_mm", "joint_penetration_mm", "root_width_mm",
                 "reinforcement_mm", "root_sag_mm", "root_span_ratio", "burn_through", "lack_of_fusion", "joint_missed", "undercut_mm",
                 "porosity_pct", "deposit_area_mm2", "gap_mm", "seam_error_mm")


class WeldProcess:
    """One weld of one joint, advanced step by step by the controller (or a fixed recipe).

    ``step`` moves the torch along the seam by travel_speed · dt, runs the arc
    model, the thermal field and the bead model, and returns the sensor sample.
    Deterministic for a given joint and ``seed`` (sensor noise, contamination).

    ``gap`` (``reality_gap.RealityGap``) makes it a real plant's weld rather than the model's: the arc
    efficiency, the current characteristic, the plate's conductivity and diffusivity, the wire's
    actual diameter, the robot's path error (``joint`` is welded as seen from the actual torch path:
    ``self.joint``), the tracker's bias and extra noise, the camera's extra latency and the power
    source's current and voltage reading biases. ``NOMINAL`` (the default) changes nothing.
    """

    def __init__(self, joint: JointGeometry, seed: int, wire_diameter_mm: float = 1.2, *,
                 props: SteelProperties = MILD_STEEL, dx_mm: float = 0.5, use_numba: bool = True,
                 sensor_noise: bool = True, feeder_time_constant_s: float = 0.06,
                 pool_camera_latency_s: float = 0.04, gap: RealityGap = NOMINAL) -> None:
        if not wire_diameter_mm > 0:
            raise ValueError(f"wire_diameter_mm must be > 0, got {wire_diameter_mm!r}")
        self.reality_gap = gap
        self.joint = replace(joint, seam_offset_mm=joint.seam_offset_mm - gap.robot_path_error_mm)
        self.seed = int(seed)
        self.wire_diameter_mm = float(wire_diameter_mm) + gap.wire_diameter_error_mm
        self.props = props.scaled(gap.conductivity_factor, gap.diffusivity_factor)
        self.arc_efficiency = ARC_EFFICIENCY_GMAW * gap.arc_efficiency_factor
        self.thermal_thickness_mm = JOINT_THERMAL_FACTOR * joint.thickness_mm
        self.thermal = ThermalWindow(self.thermal_thickness_mm, props=self.props, dx_mm=dx_mm, use_numba=use_numba)
        self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x57E9]))
        # the gap's extra tracker noise draws from a stream of its own: the model's noise stays the same
        self._gap_rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x6A9]))
        self._noise = sensor_noise
        self._tau = float(feeder_time_constant_s)
        self._cam_latency = float(pool_camera_latency_s) + gap.camera_latency_extra_s
        self._z = np.linspace(0.0, self.thermal_thickness_mm, N_DEPTH_LEVELS)
        self._wl = np.zeros(N_DEPTH_LEVELS)
        self._wr = np.zeros(N_DEPTH_LEVELS)
        self._tmax = np.zeros(N_DEPTH_LEVELS)
        self._reach = np.zeros(N_DEPTH_LEVELS)
        self._corr_v = -1.0
        self._corr = np.zeros((1, 1, 1))
        self._xi_lo = -int(round(XI_BEHIND_MM / dx_mm))
        self.x_mm = 0.0
        self.time_s = 0.0
        self.arc_energy_J = 0.0
        self._wfs_act: float | None = None
        self._trace: dict[str, list[float]] = {k: [] for k in _TRACE_FIELDS}
        self.snapshot: tuple[np.ndarray, np.ndarray, np.ndarray, float, float] | None = None
        self.done = False

    # ----------------------------------------------------------------------------------
    def step(self, dt_s: float, voltage_V: float, wire_feed_m_min: float, travel_speed_mm_s: float,
             torch_offset_mm: float, gas_flow_l_min: float = 15.0) -> ProcessSample:
        """Advance the weld by ``dt_s`` [s] with the commanded voltage [V], wire feed [m/min],
        travel speed [mm/s], lateral torch offset from the programmed path [mm, + = left] and
        shielding-gas flow [L/min].  Raises ValueError outside ``PARAMETER_LIMITS`` and
        RuntimeError once ``done``."""
        if self.done:
            raise RuntimeError("the weld is done (torch reached the seam end)")
        dt = _check("dt_s", dt_s)
        U = _check("voltage_V", voltage_V)
        wfs_cmd = _check("wire_feed_m_min", wire_feed_m_min)
        v = _check("travel_speed_mm_s", travel_speed_mm_s)
        y_t = _check("torch_offset_mm", torch_offset_mm)
        gas = _check("gas_flow_l_min", gas_flow_l_min)
        joint = self.joint
        t_mm = joint.thickness_mm
        props = self.props

        # arc ------------------------------------------------------------------------
        if self._wfs_act is None:
            self._wfs_act = wfs_cmd
        else:
            self._wfs_act += (wfs_cmd - self._wfs_act) * (1.0 - math.exp(-dt / self._tau))
        wfs = self._wfs_act
        I = current_from_wire_feed(wfs, U, self.wire_diameter_mm) * self.reality_gap.current_factor
        P_arc = U * I
        q = self.arc_efficiency * P_arc

        x_from = self.x_mm
        x_to = min(x_from + v * dt, joint.length_mm)
        th = self.thermal
        th.advance(dt, x_from, x_to, y_t, q)
        self.x_mm = x_to
        self.time_s += dt
        self.arc_energy_J += P_arc * dt

        # melt pool ------------------------------------------------------------------
        if v != self._corr_v:
            self._corr = correction_3d(v, self.thermal_thickness_mm, th.dx_mm, props)
            self._corr_v = v
        corr = self._corr
        ia, ja = th.node_of(x_to, y_t)
        gap = joint.gap_at(x_to)
        e = joint.seam_offset_at(x_to) - y_t  # seam relative to the torch, + = left
        shift = min(GAP_ARC_DEPTH_FACTOR * gap, t_mm)
        width, pen, jpen, root_w, joint_missed, lack_of_fusion = pool_geometry(
            th.T, ia, ja, corr, q, self._xi_lo, props.solidus_C, self._z, th.dx_mm, gap, e, shift, t_mm,
            self._wl, self._wr, self._tmax, self._reach)

        # deposit, root, reinforcement ------------------------------------------------
        A = deposit_area_mm2(wfs, v, self.wire_diameter_mm)
        b = max(width, 2.0 * self.wire_diameter_mm)
        sag = 0.0
        span_ratio = 0.0
        burn = False
        A_root = 0.0
        A_gap = gap * jpen
        h = 1.5 * (A - A_gap) / b
        if jpen >= t_mm - 1e-9:
            p = (LIQUID_DENSITY_KG_M3 * 9.81 * t_mm * 1e-3
                 + MU0 * I * I / (4.0 * math.pi ** 2 * (ARC_RADIUS_MM * 1e-3) ** 2))
            R = SURFACE_TENSION_N_M / p * 1e3  # mm
            span_ratio = root_w / (2.0 * R)
            if span_ratio >= 1.0:
                burn = True
                sag = R
            else:
                sag = R - math.sqrt(R * R - 0.25 * root_w * root_w)
            A_root = 2.0 / 3.0 * root_w * sag
            h = 1.5 * (A - A_gap - A_root) / b

        # undercut, porosity -----------------------------------------------------------
        dU = U - (14.0 + 0.05 * I)
        hu = 0.15 * max(0.0, dU - 1.0) + 0.08 * max(0.0, v - 10.0)
        por = 0.5 * max(0.0, 10.0 - gas) + 0.3 * max(0.0, gas - 20.0)
        c = joint.contamination_mm
        if c is not None and c[0] <= x_to <= c[1]:
            por += 3.0

        hi = self.arc_efficiency * P_arc / v
        tr = self._trace
        for k, val in (("x_mm", x_to), ("time_s", self.time_s), ("voltage_V", U), ("current_A", I),
                       ("wire_feed_m_min", wfs), ("travel_speed_mm_s", v), ("gas_flow_l_min", gas),
                       ("heat_input_J_mm", hi), ("width_mm", width), ("penetration_mm", pen),
                       ("joint_penetration_mm", jpen), ("root_width_mm", root_w), ("reinforcement_mm", h),
                       ("root_sag_mm", sag), ("root_span_ratio", span_ratio), ("burn_through", float(burn)), ("lack_of_fusion", float(lack_of_fusion)),
                       ("joint_missed", float(joint_missed)), ("undercut_mm", hu), ("porosity_pct", por),
                       ("deposit_area_mm2", A), ("gap_mm", gap), ("seam_error_mm", e)):
            tr[k].append(val)

        if self.snapshot is None and x_to >= 0.5 * joint.length_mm:
            self.snapshot = (th.x_mm.copy(), th.y_mm.copy(), th.T.copy(), x_to, y_t)
        if x_to >= joint.length_mm - 1e-9:
            self.done = True

        # sensors ------------------------------------------------------------------------
        n = self._rng.standard_normal(6).tolist() if self._noise else [0.0] * 6  # floats: cheap scalar math
        reality = self.reality_gap
        tracker_noise_mm = ((self._gap_rng.standard_normal(2) * reality.tracker_noise_mm).tolist() if self._noise
                            else [0.0, 0.0])
        k_lat = int(round(self._cam_latency / dt))
        widths = tr["width_mm"]
        pw = widths[max(0, len(widths) - 1 - k_lat)]
        xl = x_to + TRACKER_LOOKAHEAD_MM
        return ProcessSample(
            actual_current_A=I + 3.0 * n[0] + reality.current_sensor_bias_A,
            actual_voltage_V=U + 0.15 * n[1] + reality.voltage_sensor_bias_V,
            actual_wire_feed_m_min=wfs + 0.05 * n[2],
            arc_power_W=P_arc + 60.0 * n[3],
            pool_width_mm=max(0.0, pw + 0.3 * n[4]),
            tracker_gap_mm=max(0.0, joint.gap_at(xl) + 0.05 * n[5] + tracker_noise_mm[0]),
            tracker_seam_offset_mm=(joint.seam_offset_at(xl) + 0.05 * (n[0] - n[1]) + reality.tracker_bias_mm
                                    + tracker_noise_mm[1]),
            torch_position_mm=x_to,
            arc_energy_J=self.arc_energy_J,
            time_s=self.time_s,
        )

    # ----------------------------------------------------------------------------------
    @property
    def trace(self) -> dict[str, np.ndarray]:
        """Per-step model values (true, noise-free), keyed as ``_TRACE_FIELDS``."""
        return {k: np.asarray(v, dtype=float) for k, v in self._trace.items()}

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
        tr = self._trace
        return {k: tr[k][-1] for k in keys}

    def result(self) -> WeldReport:
        """Per-segment bead geometry, imperfections and the ISO 5817 level of the weld so far
        (``weld_report.grade_weld``)."""
        return grade_weld(self.trace, self.joint, complete=self.done, arc_energy_J=self.arc_energy_J)

    def temperature_field(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x_mm, y_mm, T_C[x, y]) of the current thermal window (copies; plate frame)."""
        th = self.thermal
        return th.x_mm.copy(), th.y_mm.copy(), th.T.copy()


def run_fixed_recipe(joint: JointGeometry, seed: int, procedure: NominalProcedure = NOMINAL_PROCEDURE,
                     dt_s: float = 0.02, **kwargs) -> WeldProcess:
    """Weld ``joint`` with the fixed procedure (no feedback); returns the finished process."""
    p = WeldProcess(joint, seed, procedure.wire_diameter_mm, **kwargs)
    while not p.done:
        p.step(dt_s, procedure.voltage_V, procedure.wire_feed_m_min, procedure.travel_speed_mm_s,
               procedure.torch_offset_mm, procedure.gas_flow_l_min)
    return p
