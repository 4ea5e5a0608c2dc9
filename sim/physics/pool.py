"""Melt-pool analysis of the GMAW weld process twin: the 3-D corrected field and the fused zone.

``correction_3d`` is the per-watt 3-D correction on the analysis grid (``XI_BEHIND_MM`` behind to
``XI_AHEAD_MM`` ahead of the arc, ``Y_HALF_MM`` to its side, ``N_DEPTH_LEVELS`` depths from the top
face); ``pool_geometry`` (numba, ``cache=True``) measures one step's fused zone on the thermal
window (``thermal.ThermalWindow``).  The process model (``weld.WeldProcess``) calls both each step;
the process kernel (``weld_kernel``) calls ``pool_geometry`` for one weld or many.

* Fusion width and penetration come from the melt isotherm (solidus 1450 °C)
  of a 3-D field that is the 2-D FD field plus a *3-D correction*::

      T3(ξ, y, z) = T_FD(ξ, y) + q · [G3(ξ, y, z; v, d) − G2(ξ, y; v, d)]

  G2 is Rosenthal's thin-plate (line-source) Green function and G3 the
  quasi-steady 3-D Rosenthal solution for a plate of finite thickness d with
  adiabatic faces (method of images), for the arc power split into a pair of
  half-power point sources at ±``ARC_VIRTUAL_HEIGHT_MM`` about the top face
  (symmetric about the face, so the face stays adiabatic; it regularises the
  point source into a source of ~1.5 mm extent, standing in for the arc spread
  and the droplet heat carried into the crater).  The through-thickness mean of G3 is
  exactly G2, so the correction moves heat from the root to the top face
  without changing the energy of the column: the 2-D FD model keeps the
  history (start transient, heat build-up, changes of speed and power, torch
  weave over the seam) and the analytic correction adds the through-thickness
  distribution for the *current* power and speed.  Honest limits: the
  correction is quasi-steady (it assumes the present q, v held for a few
  Péclet times, 2α/v² ≈ 0.3 s), properties are constant, and latent heat and
  convection in the pool are absent; widths and depths are therefore good to
  roughly ±15 %, and the *trends* (more heat input → wider, deeper) are what
  the controller can rely on.
* The fused zone is shifted down by ``shift`` = ``arc.GAP_ARC_DEPTH_FACTOR`` · gap (the arc burning
  into the open root, see ``weld``).
* The joint is fused to depth z when the melt at z reaches both groove faces,
  located at seam ± gap/2 relative to the torch; ``joint penetration`` is the
  deepest such z.  Root penetration is complete when it reaches the root.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from numba import njit
from scipy import special

from .thermal import SteelProperties, rosenthal_finite_plate_3d

__all__ = ["N_DEPTH_LEVELS", "XI_BEHIND_MM", "XI_AHEAD_MM", "Y_HALF_MM", "ARC_VIRTUAL_HEIGHT_MM", "analysis_grid_mm",
           "correction_3d", "pool_geometry"]

ARC_VIRTUAL_HEIGHT_MM = 1.5  # virtual source height of the 3-D correction (arc spread)
N_DEPTH_LEVELS = 11
#: the analysis grid about the arc: ξ from −XI_BEHIND_MM to XI_AHEAD_MM along the seam, y to ±Y_HALF_MM
XI_BEHIND_MM = 36.0
XI_AHEAD_MM = 4.0
Y_HALF_MM = 12.0
#: corrections kept (178 kB each at dx 0.5 mm): the travel-speed buckets × plate thicknesses a training run
#: meets (36 × 7 at a 0.1 mm thickness quantum; joints as generated each have a thickness of their own); the
#: least recently used goes first
CORRECTION_CACHE_SIZE = 320
_corr_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()


def speed_bucket_mm_s(speed_mm_s):
    """The travel speed the 3-D correction is computed at: 0.25 mm/s buckets, at least 0.25 mm/s (a float or an
    array of them)."""
    return np.maximum(0.25, np.round(np.asarray(speed_mm_s) * 4.0) / 4.0)


def analysis_grid_mm(dx_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The analysis grid's ξ (along the seam, from the arc) and y (≥ 0, to its side) node coordinates, mm;
    a correction has shape (len(ξ), len(y), N_DEPTH_LEVELS)."""
    xi = np.arange(-int(round(XI_BEHIND_MM / dx_mm)), int(round(XI_AHEAD_MM / dx_mm)) + 1) * dx_mm
    return xi, np.arange(int(round(Y_HALF_MM / dx_mm)) + 1) * dx_mm


def correction_3d(speed_mm_s: float, thickness_mm: float, dx_mm: float, props: SteelProperties) -> np.ndarray:
    """Per-watt 3-D correction G3 − G2 on the (ξ, y ≥ 0, z) analysis grid, cached by speed bucket and thickness."""
    v = float(speed_bucket_mm_s(speed_mm_s))
    # the exact thickness: a key that rounded it would hand one plate the correction computed for another
    # (whichever came first), so a weld's numbers would depend on the welds before it in the process
    key = (v, float(thickness_mm), dx_mm, props)
    c = _corr_cache.get(key)
    if c is not None:
        _corr_cache.move_to_end(key)
        return c
    xi, y = analysis_grid_mm(dx_mm)
    z = np.linspace(0.0, thickness_mm, N_DEPTH_LEVELS)
    XI, Y, Z = np.meshgrid(xi, y, z, indexing="ij")
    h = ARC_VIRTUAL_HEIGHT_MM
    T0 = props.ambient_C
    # source at z = −h with images at 2 n d ± h (adiabatic faces), weight 1/2 each
    rm = 0.5 * dx_mm
    g3 = 0.5 * (rosenthal_finite_plate_3d(XI, Y, Z + h, 1.0, v, thickness_mm, props, r_min_mm=rm)
                + rosenthal_finite_plate_3d(XI, Y, Z - h, 1.0, v, thickness_mm, props, r_min_mm=rm)) - T0
    xi2, y2 = XI[:, :, 0], Y[:, :, 0]
    r = np.maximum(np.hypot(xi2, y2), 0.5 * dx_mm)  # regularise the line source's log singularity
    pk = v / (2.0 * props.diffusivity_mm2_s)
    g2 = np.exp(-pk * (xi2 + r)) * special.k0e(pk * r) / (2.0 * math.pi * props.conductivity_W_mmK * thickness_mm)
    c = np.ascontiguousarray(g3 - g2[:, :, None])
    _corr_cache[key] = c
    if len(_corr_cache) > CORRECTION_CACHE_SIZE:
        _corr_cache.popitem(last=False)
    return c


@njit(cache=True, nogil=True)
def _melt_profile(T, ia, ja, corr, q, xi_lo, Ts, wl, wr, tmax):  # pragma: no cover - jit
    """Half-widths (in cells) of the T3 ≥ Ts region on each side of the arc column, and the
    max T3 on the arc's line y = y_arc, for each depth level; max over ξ."""
    nx, ny = T.shape
    n_xi, n_y, n_z = corr.shape
    for k in range(n_z):
        wl[k] = 0.0
        wr[k] = 0.0
        tmax[k] = -1e30
    if ja < 0 or ja >= ny:
        return
    for a in range(n_xi):
        i = ia + xi_lo + a
        if i < 0 or i >= nx:
            continue
        for k in range(n_z):
            v0 = T[i, ja] + q * corr[a, 0, k]
            if v0 > tmax[k]:
                tmax[k] = v0
            if v0 < Ts:
                continue
            for side in range(2):
                sgn = 1 if side == 0 else -1
                prev = v0
                ext = float(n_y - 1)
                for m in range(1, n_y):
                    jj = ja + sgn * m
                    if jj < 0 or jj >= ny:
                        ext = float(m - 1)
                        break
                    val = T[i, jj] + q * corr[a, m, k]
                    if val < Ts:
                        ext = (m - 1) + (prev - Ts) / (prev - val)
                        break
                    prev = val
                if side == 0:
                    if ext > wl[k]:
                        wl[k] = ext
                elif ext > wr[k]:
                    wr[k] = ext


@njit(cache=True, nogil=True)
def _nb_depth_where(z, f):  # pragma: no cover - jit
    if f[0] < 0:
        return -1.0
    for k in range(1, f.shape[0]):
        if f[k] < 0:
            return z[k - 1] + (z[k] - z[k - 1]) * f[k - 1] / (f[k - 1] - f[k])
    return z[f.shape[0] - 1]


@njit(cache=True, nogil=True)
def _nb_interp(z, w, zq):  # pragma: no cover - jit
    n = z.shape[0]
    if zq <= z[0]:
        return w[0]
    if zq >= z[n - 1]:
        return w[n - 1]
    for k in range(1, n):
        if zq <= z[k]:
            t = (zq - z[k - 1]) / (z[k] - z[k - 1])
            return w[k - 1] * (1.0 - t) + w[k] * t
    return w[n - 1]


@njit(cache=True, nogil=True)
def pool_geometry(T, ia, ja, corr, q, xi_lo, Ts, z, dx, gap, e, shift, t_mm, wl, wr, tmax, reach):  # pragma: no cover
    """Fused zone of the current step → (width, penetration, joint penetration, root width,
    joint_missed, lack_of_fusion); all mm, measured from the top face (see module docstring)."""
    _melt_profile(T, ia, ja, corr, q, xi_lo, Ts, wl, wr, tmax)
    n = z.shape[0]
    for k in range(n):
        wl[k] *= dx
        wr[k] *= dx
        tmax[k] -= Ts
        reach[k] = min(wl[k] - (e + 0.5 * gap), wr[k] - (0.5 * gap - e))
    width = wl[0] + wr[0]
    ps = _nb_depth_where(z, tmax)
    pen = min(t_mm, ps + shift) if ps >= 0 else 0.0
    pj = _nb_depth_where(z, reach)
    jpen = min(t_mm, pj + shift) if pj >= 0 else 0.0
    # missed: the fused zone does not reach the near groove face at the top
    missed = width <= 0.0 or (e >= 0 and wl[0] < e - 0.5 * gap) or (e < 0 and wr[0] < -e - 0.5 * gap)
    lof = pj < 0 and not missed
    if missed:
        jpen = 0.0
    root_w = 0.0
    if jpen >= t_mm - 1e-9:
        zr = t_mm - shift
        root_w = max(_nb_interp(z, wl, zr) + _nb_interp(z, wr, zr), gap)
    return width, pen, jpen, root_w, missed, lof
