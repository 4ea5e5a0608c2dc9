"""The weld process's step as a numba kernel: one joint (``step_joint``) or many at once (``step_joints``).

``weld.WeldBatch`` holds the state of N joints in stacked arrays (slot ``e`` is row ``e`` of each)
and calls ``step_joints`` (or ``step_joints_parallel``) once per control step for all of them;
``weld.WeldProcess`` is a batch of one. The kernel is the process model of ``weld`` (arc, thermal
field, melt pool, bead, imperfections, sensors) in the same expression order as its docstring
states, so a joint gives the same numbers alone or in a batch. What it cannot do stays outside:
the caller checks the commands against ``weld.PARAMETER_LIMITS``, computes the 3-D correction
(``pool.correction_3d``, scipy) when the travel speed changes bucket, and draws the sensor noise
(numpy's generators, drawn ahead in blocks: the same numbers as one draw per step).

Layouts (the column indices below; every array float64):

* ``params[e, P_*]``: the joint's constants (model values after its reality gap);
* ``state[e, S_*]``: what a step changes (torch position, time, arc energy, wire feed, the thermal
  window's anchor, the number of steps taken, done);
* ``trace[e, k, :]``: step k's true (noise-free) values, in ``TRACE_FIELDS`` order;
* ``noise[e, k, :6]`` the model's sensor noise of step k (standard normal), ``noise[e, k, 6:]`` the
  reality gap's extra tracker noise, in mm;
* ``sample[e, :]``: the step's sensor readings, in ``SAMPLE_FIELDS`` order.
"""
from __future__ import annotations

import math

from numba import njit, prange

from .arc import (ARC_RADIUS_MM, DEPOSITION_EFFICIENCY, GAP_ARC_DEPTH_FACTOR, LIQUID_DENSITY_KG_M3, MU0,
                  SURFACE_TENSION_N_M, TRACKER_LOOKAHEAD_MM, current_from_wire_feed, deposit_area_mm2)
from .joint import interp_uniform
from .pool import pool_geometry
from .thermal import ftcs_advance_numba, substeps, window_sources

#: the true values of a step, in the trace's column order (``WeldProcess.trace`` keys)
TRACE_FIELDS = ("x_mm", "time_s", "voltage_V", "current_A", "wire_feed_m_min", "travel_speed_mm_s",
                "gas_flow_l_min", "heat_input_J_mm", "width_mm", "penetration_mm", "joint_penetration_mm",
                "root_width_mm", "reinforcement_mm", "root_sag_mm", "root_span_ratio", "burn_through",
                "lack_of_fusion", "joint_missed", "undercut_mm", "porosity_pct", "deposit_area_mm2", "gap_mm",
                "seam_error_mm")
#: the sensor readings of a step, in the sample's column order (``weld.ProcessSample`` fields)
SAMPLE_FIELDS = ("actual_current_A", "actual_voltage_V", "actual_wire_feed_m_min", "arc_power_W", "pool_width_mm",
                 "tracker_gap_mm", "tracker_seam_offset_mm", "torch_position_mm", "arc_energy_J", "time_s")
NOISE_COLUMNS = 8

# params columns
(P_LENGTH_MM, P_THICKNESS_MM, P_SPACING_MM, P_CONTAMINATION_FROM_MM, P_CONTAMINATION_TO_MM, P_WIRE_DIAMETER_MM,
 P_CURRENT_FACTOR, P_ARC_EFFICIENCY, P_FEEDER_TAU_S, P_CAMERA_LATENCY_S, P_CURRENT_BIAS_A, P_VOLTAGE_BIAS_V,
 P_TRACKER_BIAS_MM, P_SOLIDUS_C, P_AMBIENT_C, P_DIFFUSIVITY_MM2_S, P_AMP_PER_W, P_LOSS_PER_S, P_DX_MM, P_SIGMA_MM,
 P_R_MAX, P_BEHIND_CELLS, P_XI_LO) = range(23)
N_PARAMS = 23
# state columns
S_X_MM, S_TIME_S, S_ARC_ENERGY_J, S_WIRE_FEED_M_MIN, S_WINDOW_X0_MM, S_STEPS, S_DONE = range(7)
N_STATE = 7

@njit(cache=True, nogil=True)
def step_joint(e, dt, U, wfs_cmd, v, y_t, gas, params, state, T, buf, gx, gy, xl, y_mm, corr, z, scratch,
               gap_mm, offset_mm, trace, noise, sample):  # pragma: no cover - jit
    """Advance joint ``e`` by ``dt`` [s] with voltage ``U`` [V], commanded wire feed ``wfs_cmd``
    [m/min], travel speed ``v`` [mm/s], torch offset ``y_t`` [mm, + = left of the programmed path] and
    gas flow ``gas`` [L/min] (all checked by the caller); writes its trace row and ``sample[e]``."""
    p = params[e]
    st = state[e]
    t_mm = p[P_THICKNESS_MM]
    length = p[P_LENGTH_MM]
    d_w = p[P_WIRE_DIAMETER_MM]
    k = int(st[S_STEPS])

    # arc
    if math.isnan(st[S_WIRE_FEED_M_MIN]):
        st[S_WIRE_FEED_M_MIN] = wfs_cmd
    else:
        st[S_WIRE_FEED_M_MIN] += (wfs_cmd - st[S_WIRE_FEED_M_MIN]) * (1.0 - math.exp(-dt / p[P_FEEDER_TAU_S]))
    wfs = st[S_WIRE_FEED_M_MIN]
    I = current_from_wire_feed(wfs, U, d_w) * p[P_CURRENT_FACTOR]
    P_arc = U * I
    q = p[P_ARC_EFFICIENCY] * P_arc

    # thermal field (thermal.ThermalWindow.advance)
    x_from = st[S_X_MM]
    x_to = min(x_from + v * dt, length)
    dx = p[P_DX_MM]
    alpha = p[P_DIFFUSIVITY_MM2_S]
    n_sub = substeps(dt, alpha, dx, p[P_R_MAX])
    Te = T[e]
    st[S_WINDOW_X0_MM] = window_sources(Te, gx[e, :n_sub], gy[e, :n_sub], xl, y_mm, st[S_WINDOW_X0_MM],
                                        int(p[P_BEHIND_CELLS]), dx, p[P_SIGMA_MM], p[P_AMBIENT_C], x_from, x_to, y_t)
    dts = dt / n_sub
    ftcs_advance_numba(Te, buf[e], gx[e, :n_sub], gy[e, :n_sub], q * p[P_AMP_PER_W], alpha * dts / dx ** 2,
                       p[P_LOSS_PER_S], p[P_AMBIENT_C], dts)
    st[S_X_MM] = x_to
    st[S_TIME_S] += dt
    st[S_ARC_ENERGY_J] += P_arc * dt

    # melt pool (ThermalWindow.node_of, pool.pool_geometry)
    ny = Te.shape[1]
    ia = int(math.floor((x_to - st[S_WINDOW_X0_MM]) / dx + 0.5))
    ja = int(math.floor(y_t / dx + 0.5)) + (ny - 1) // 2
    gap = interp_uniform(gap_mm[e], p[P_SPACING_MM], x_to)
    err = interp_uniform(offset_mm[e], p[P_SPACING_MM], x_to) - y_t  # seam relative to the torch, + = left
    shift = min(GAP_ARC_DEPTH_FACTOR * gap, t_mm)
    s = scratch[e]
    width, pen, jpen, root_w, joint_missed, lack_of_fusion = pool_geometry(
        Te, ia, ja, corr[e], q, int(p[P_XI_LO]), p[P_SOLIDUS_C], z[e], dx, gap, err, shift, t_mm,
        s[0], s[1], s[2], s[3])

    # deposit, root, reinforcement
    A = deposit_area_mm2(wfs, v, d_w, DEPOSITION_EFFICIENCY)
    b = max(width, 2.0 * d_w)
    sag = 0.0
    span_ratio = 0.0
    burn = False
    A_root = 0.0
    A_gap = gap * jpen
    h = 1.5 * (A - A_gap) / b
    if jpen >= t_mm - 1e-9:
        pressure = (LIQUID_DENSITY_KG_M3 * 9.81 * t_mm * 1e-3
                    + MU0 * I * I / (4.0 * math.pi ** 2 * (ARC_RADIUS_MM * 1e-3) ** 2))
        R = SURFACE_TENSION_N_M / pressure * 1e3  # mm
        span_ratio = root_w / (2.0 * R)
        if span_ratio >= 1.0:
            burn = True
            sag = R
        else:
            sag = R - math.sqrt(R * R - 0.25 * root_w * root_w)
        A_root = 2.0 / 3.0 * root_w * sag
        h = 1.5 * (A - A_gap - A_root) / b

    # undercut, porosity
    dU = U - (14.0 + 0.05 * I)
    hu = 0.15 * max(0.0, dU - 1.0) + 0.08 * max(0.0, v - 10.0)
    por = 0.5 * max(0.0, 10.0 - gas) + 0.3 * max(0.0, gas - 20.0)
    if p[P_CONTAMINATION_FROM_MM] <= x_to <= p[P_CONTAMINATION_TO_MM]:  # NaN bounds: no contamination
        por += 3.0

    row = trace[e, k]
    row[0] = x_to
    row[1] = st[S_TIME_S]
    row[2] = U
    row[3] = I
    row[4] = wfs
    row[5] = v
    row[6] = gas
    row[7] = p[P_ARC_EFFICIENCY] * P_arc / v
    row[8] = width
    row[9] = pen
    row[10] = jpen
    row[11] = root_w
    row[12] = h
    row[13] = sag
    row[14] = span_ratio
    row[15] = 1.0 if burn else 0.0
    row[16] = 1.0 if lack_of_fusion else 0.0
    row[17] = 1.0 if joint_missed else 0.0
    row[18] = hu
    row[19] = por
    row[20] = A
    row[21] = gap
    row[22] = err
    st[S_STEPS] = k + 1
    if x_to >= length - 1e-9:
        st[S_DONE] = 1.0

    # sensors
    n = noise[e, k]
    k_lat = int(round(p[P_CAMERA_LATENCY_S] / dt))
    pw = trace[e, max(0, k - k_lat), 8]
    xl_mm = x_to + TRACKER_LOOKAHEAD_MM
    out = sample[e]
    out[0] = I + 3.0 * n[0] + p[P_CURRENT_BIAS_A]
    out[1] = U + 0.15 * n[1] + p[P_VOLTAGE_BIAS_V]
    out[2] = wfs + 0.05 * n[2]
    out[3] = P_arc + 60.0 * n[3]
    out[4] = max(0.0, pw + 0.3 * n[4])
    out[5] = max(0.0, interp_uniform(gap_mm[e], p[P_SPACING_MM], xl_mm) + 0.05 * n[5] + n[6])
    out[6] = interp_uniform(offset_mm[e], p[P_SPACING_MM], xl_mm) + 0.05 * (n[0] - n[1]) + p[P_TRACKER_BIAS_MM] + n[7]
    out[7] = x_to
    out[8] = st[S_ARC_ENERGY_J]
    out[9] = st[S_TIME_S]


@njit(cache=True, nogil=True)
def step_joints(active, dt, U, wfs_cmd, v, y_t, gas, params, state, T, buf, gx, gy, xl, y_mm, corr, z, scratch,
                gap_mm, offset_mm, trace, noise, sample):  # pragma: no cover - jit
    """``step_joint`` for every joint ``e`` with ``active[e]``, one after another; the commands are arrays (N,)."""
    for e in range(active.shape[0]):
        if active[e]:
            step_joint(e, dt, U[e], wfs_cmd[e], v[e], y_t[e], gas[e], params, state, T, buf, gx, gy, xl, y_mm,
                       corr, z, scratch, gap_mm, offset_mm, trace, noise, sample)


@njit(cache=True, nogil=True, parallel=True)
def step_joints_parallel(active, dt, U, wfs_cmd, v, y_t, gas, params, state, T, buf, gx, gy, xl, y_mm, corr, z,
                         scratch, gap_mm, offset_mm, trace, noise, sample):  # pragma: no cover - jit
    """``step_joints`` over numba's threads (each joint's numbers are the same: no joint reads another's
    state). Two functions, not one compiled twice: numba's on-disk cache keys a function by its name."""
    for e in prange(active.shape[0]):
        if active[e]:
            step_joint(e, dt, U[e], wfs_cmd[e], v[e], y_t[e], gas[e], params, state, T, buf, gx, gy, xl, y_mm,
                       corr, z, scratch, gap_mm, offset_mm, trace, noise, sample)
