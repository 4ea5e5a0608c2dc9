"""Thermal model of the plate under the moving arc.

Explicit finite differences (FTCS) on a 2-D thin-plate grid: the temperature is
averaged through the thickness ``d`` and the arc is a through-thickness line
source, i.e. the discrete form of

    ρ c d ∂T/∂t = k_th d ∇²T + q(x, y, t) − 2 h (T − T0)

with constant properties (the regime of Rosenthal's thin-plate solution, see
``rosenthal_thin_plate``).  The grid is a window in the *plate* frame that is
re-anchored by whole cells as the torch advances (cells leaving the back are
dropped, cells entering ahead start at ambient).  No advection term is needed
because the FD update happens in the plate frame; re-anchoring only relabels
cells.  Window edges are zero-gradient (outflow behind, insulated sides); ahead
of the arc the field is at ambient within a few Péclet lengths 2α/v ≈ 2 mm.

The arc is a narrow numerical Gaussian (σ = 0.35 mm, i.e. a regularised point/line
source — the physical arc spread enters through the melt-pool model) whose weights are *separable*,
``S[i, j] = a · gx[i] · gy[j]``: the two 1-D factors are computed once per
sub-step (O(nx + ny) ``exp`` calls) and the kernel only multiplies them — no
transcendental function per cell per step (see design/performance.md).

Two implementations of the same algorithm and the same floating-point
expression order:

- ``ftcs_advance_numba`` — ``@njit`` kernel used by the twin.
- ``ftcs_advance_numpy`` — plain-numpy reference, for tests and the benchmark.

Sources: D. Rosenthal, "The theory of moving sources of heat and its
application to metal treatments", Trans. ASME 68 (1946) 849–866; material data
per design/welding.md (mild steel, ρ 7850 kg/m³, k_th 45 → 30 W/(m·K)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numba import njit
from scipy import special

__all__ = [
    "SteelProperties",
    "MILD_STEEL",
    "ftcs_advance_numba",
    "ftcs_advance_numpy",
    "gaussian_weights",
    "rosenthal_thin_plate",
    "rosenthal_finite_plate_3d",
    "ThermalWindow",
]


@dataclass(frozen=True)
class SteelProperties:
    """Constant thermal properties (the FD model and Rosenthal use the same ones).

    ``specific_heat_J_kgK`` and ``conductivity_W_mK`` are effective means over
    20…1450 °C for mild steel (c rises from 460 to > 700 J/(kg·K) through the
    Curie point; k_th falls from 45 to ≈ 30 W/(m·K)).
    """

    density_kg_m3: float = 7850.0
    specific_heat_J_kgK: float = 600.0
    conductivity_W_mK: float = 35.0
    solidus_C: float = 1450.0
    liquidus_C: float = 1520.0
    ambient_C: float = 20.0

    @property
    def diffusivity_mm2_s(self) -> float:
        return self.conductivity_W_mK / (self.density_kg_m3 * self.specific_heat_J_kgK) * 1e6

    @property
    def volumetric_heat_J_mm3K(self) -> float:
        return self.density_kg_m3 * self.specific_heat_J_kgK * 1e-9

    @property
    def conductivity_W_mmK(self) -> float:
        return self.conductivity_W_mK * 1e-3

    def scaled(self, conductivity_factor: float, diffusivity_factor: float) -> SteelProperties:
        """These properties with the conductivity k_th [W/(m·K)] and the diffusivity α = k_th / (ρ c)
        [mm²/s] multiplied by the factors given (the density kept: the specific heat takes the rest).
        Factors of 1 give equal properties."""
        if not (conductivity_factor > 0 and diffusivity_factor > 0):
            raise ValueError(f"factors must be > 0, got {conductivity_factor!r}, {diffusivity_factor!r}")
        return replace(self, conductivity_W_mK=self.conductivity_W_mK * conductivity_factor,
                       specific_heat_J_kgK=self.specific_heat_J_kgK * conductivity_factor / diffusivity_factor)


MILD_STEEL = SteelProperties()


# ----------------------------------------------------------------------------------------
# kernels: same algorithm, same expression order
# ----------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def ftcs_advance_numba(T, buf, gx, gy, amp_K_s, r, loss_per_s, T0_C, dt_s):  # pragma: no cover - jit
    """Advance ``T`` (nx, ny) by ``gx.shape[0]`` explicit sub-steps of ``dt_s`` in place.

    ``gx`` (n_sub, nx) and ``gy`` (n_sub, ny) are the separable source weights
    [1/mm] of each sub-step, ``amp_K_s`` = q / (ρ c d · 1 mm²) … so that the
    source heating rate of cell (i, j) is ``amp_K_s * gx[s, i] * gy[s, j]`` [K/s].
    ``r`` = α dt / dx² (≤ 0.25 for stability), ``loss_per_s`` = 2 h / (ρ c d).
    ``buf`` is scratch of the same shape as ``T``.  Zero-gradient edges.
    """
    nx, ny = T.shape
    n_sub = gx.shape[0]
    a = amp_K_s * dt_s
    lo = loss_per_s * dt_s
    src = T
    dst = buf
    for s in range(n_sub):
        for i in range(nx):
            im = i - 1 if i > 0 else 0
            ip = i + 1 if i < nx - 1 else nx - 1
            ai = a * gx[s, i]
            # j = 0 (zero-gradient: T[i, -1] := T[i, 0])
            c = src[i, 0]
            lap = (src[im, 0] + src[ip, 0]) + (c + src[i, 1]) - 4.0 * c
            dst[i, 0] = c + r * lap + ai * gy[s, 0] - lo * (c - T0_C)
            for j in range(1, ny - 1):
                c = src[i, j]
                lap = (src[im, j] + src[ip, j]) + (src[i, j - 1] + src[i, j + 1]) - 4.0 * c
                dst[i, j] = c + r * lap + ai * gy[s, j] - lo * (c - T0_C)
            j = ny - 1
            c = src[i, j]
            lap = (src[im, j] + src[ip, j]) + (src[i, j - 1] + c) - 4.0 * c
            dst[i, j] = c + r * lap + ai * gy[s, j] - lo * (c - T0_C)
        tmp = src
        src = dst
        dst = tmp
    if n_sub % 2 == 1:
        T[:, :] = src


def ftcs_advance_numpy(T, buf, gx, gy, amp_K_s, r, loss_per_s, T0_C, dt_s):
    """Plain-numpy reference of ``ftcs_advance_numba`` (same arguments, same result)."""
    nx, ny = T.shape
    a = amp_K_s * dt_s
    lo = loss_per_s * dt_s
    P = np.empty((nx + 2, ny + 2))
    L = np.empty_like(T)
    M = np.empty_like(T)
    for s in range(gx.shape[0]):
        P[1:-1, 1:-1] = T
        P[0, 1:-1] = T[0]
        P[-1, 1:-1] = T[-1]
        P[1:-1, 0] = T[:, 0]
        P[1:-1, -1] = T[:, -1]
        # lap = (N + S) + (W + E) - 4 T ; new = T + r lap + a gx gy - lo (T - T0)
        np.add(P[:-2, 1:-1], P[2:, 1:-1], out=L)
        np.add(P[1:-1, :-2], P[1:-1, 2:], out=M)
        L += M
        np.multiply(T, 4.0, out=M)
        L -= M
        L *= r
        L += T
        np.multiply.outer(a * gx[s], gy[s], out=M)
        L += M
        np.subtract(T, T0_C, out=M)
        M *= lo
        L -= M
        T[...] = L


@njit(cache=True, nogil=True)
def gaussian_weights_into(out, centres_mm, coords_mm, sigma_mm, dx_mm):  # pragma: no cover - jit
    """Numba twin of ``gaussian_weights`` writing into ``out`` (len(centres), len(coords)).

    O(n_sub · (nx + ny)) ``exp`` calls per step — the kernel itself calls none.
    """
    inv = 1.0 / sigma_mm
    for s in range(centres_mm.shape[0]):
        c = centres_mm[s]
        tot = 0.0
        for i in range(coords_mm.shape[0]):
            d = (coords_mm[i] - c) * inv
            if d * d > 80.0:
                w = 0.0
            else:
                w = math.exp(-0.5 * d * d)
            out[s, i] = w
            tot += w
        tot *= dx_mm
        if tot == 0.0:
            tot = 1.0
        for i in range(coords_mm.shape[0]):
            out[s, i] /= tot


def gaussian_weights(centres_mm: np.ndarray, coords_mm: np.ndarray, sigma_mm: float, dx_mm: float) -> np.ndarray:
    """Rows of a discrete Gaussian of ``sigma_mm`` centred at each of ``centres_mm``.

    Each row sums to 1/dx (so Σ w·dx = 1: the full power enters the window
    even when the Gaussian is clipped by an edge).  Shape (len(centres), len(coords)) [1/mm].
    """
    d = (coords_mm[None, :] - np.asarray(centres_mm, dtype=float)[:, None]) / sigma_mm
    w = np.exp(-0.5 * d * d)
    s = w.sum(axis=1, keepdims=True) * dx_mm
    s[s == 0.0] = 1.0
    return w / s


@njit(cache=True, nogil=True)
def substeps(dt_s, alpha_mm2_s, dx_mm, r_max):  # pragma: no cover - jit
    """Explicit sub-steps of one advance of ``dt_s`` [s]: the fewest with r = α dt / dx² ≤ ``r_max``."""
    dt_max = r_max * dx_mm ** 2 / alpha_mm2_s
    return max(1, int(math.ceil(dt_s / dt_max - 1e-12)))


@njit(cache=True, nogil=True)
def window_sources(T, gx, gy, xl_mm, y_mm, x0_mm, behind_cells, dx_mm, sigma_mm, T0_C, x_from_mm, x_to_mm,
                   y_arc_mm):  # pragma: no cover - jit
    """The moving window's part of one advance (``ThermalWindow.advance``, and the process kernel's):
    re-anchor ``T`` (nx, ny) in place by whole cells so that the arc at ``x_to_mm`` stays
    ``behind_cells`` from column 0 (new columns at ``T0_C``), and fill the source weights ``gx``
    (n_sub, nx) and ``gy`` (n_sub, ny) [1/mm] of the arc moving from ``x_from_mm`` to ``x_to_mm`` at
    ``y_arc_mm``, one row per sub-step (at its middle). Returns the new plate x [mm] of column 0."""
    nx = T.shape[0]
    shift = int(math.floor((x_to_mm - x0_mm) / dx_mm + 0.5)) - behind_cells
    if shift > 0:
        if shift >= nx:
            T[:, :] = T0_C
        else:
            for i in range(nx - shift):  # forward: each source row is read before it is overwritten
                T[i, :] = T[i + shift, :]
            T[nx - shift:, :] = T0_C
        x0_mm += shift * dx_mm
    n_sub = gx.shape[0]
    xs = np.empty(n_sub)
    ys = np.empty(n_sub)
    for s in range(n_sub):
        xs[s] = x_from_mm - x0_mm + (x_to_mm - x_from_mm) * ((s + 0.5) / n_sub)
        ys[s] = y_arc_mm
    gaussian_weights_into(gx, xs, xl_mm, sigma_mm, dx_mm)
    gaussian_weights_into(gy, ys, y_mm, sigma_mm, dx_mm)
    return x0_mm


# ----------------------------------------------------------------------------------------
# analytic solutions (quasi-steady, frame moving with the source, ξ = x − v t)
# ----------------------------------------------------------------------------------------
def rosenthal_thin_plate(xi_mm, y_mm, power_W, speed_mm_s, thickness_mm, props: SteelProperties = MILD_STEEL):
    """Rosenthal thin-plate (line source) temperature [°C].

    T − T0 = q / (2π k d) · exp(−v ξ / 2α) · K0(v r / 2α), r = √(ξ² + y²);
    ξ [mm] along travel (+ ahead of the arc), y [mm] lateral.  Uses the scaled
    ``k0e`` so that large arguments do not overflow.
    """
    xi = np.asarray(xi_mm, dtype=float)
    y = np.asarray(y_mm, dtype=float)
    a = props.diffusivity_mm2_s
    p = speed_mm_s / (2.0 * a)
    r = np.hypot(xi, y)
    amp = power_W / (2.0 * math.pi * props.conductivity_W_mmK * thickness_mm)
    return props.ambient_C + amp * np.exp(-p * (xi + r)) * special.k0e(p * r)


def rosenthal_finite_plate_3d(xi_mm, y_mm, z_mm, power_W, speed_mm_s, thickness_mm,
                              props: SteelProperties = MILD_STEEL, n_images: int = 8, r_min_mm: float = 0.0):
    """3-D Rosenthal point source on the top face of a plate of finite thickness [°C].

    Adiabatic faces by the method of images (sources at z = 2 n d, n ∈ ℤ):
    T − T0 = q / (2π k) Σ_n exp(−v (ξ + R_n) / 2α) / R_n, R_n = √(ξ² + y² + (z − 2 n d)²).
    Its through-thickness mean is exactly the thin-plate solution above.
    """
    xi = np.asarray(xi_mm, dtype=float)
    y = np.asarray(y_mm, dtype=float)
    z = np.asarray(z_mm, dtype=float)
    a = props.diffusivity_mm2_s
    p = speed_mm_s / (2.0 * a)
    acc = np.zeros(np.broadcast(xi, y, z).shape)
    rho2 = xi * xi + y * y
    for n in range(-n_images, n_images + 1):
        R = np.sqrt(rho2 + (z - 2.0 * n * thickness_mm) ** 2)
        R = np.maximum(R, r_min_mm) if r_min_mm > 0 else R
        acc = acc + np.exp(-p * (xi + R)) / R
    return props.ambient_C + power_W / (2.0 * math.pi * props.conductivity_W_mmK) * acc


# ----------------------------------------------------------------------------------------
# moving window
# ----------------------------------------------------------------------------------------
class ThermalWindow:
    """Thin-plate FD field on a window that follows the arc.

    Plate frame: x [mm] along the seam from its start, y [mm] lateral from the
    programmed path (+ = left of travel).  The window spans
    ``[x_arc − behind_mm, x_arc + ahead_mm] × [−half_width_mm, +half_width_mm]``
    and is re-anchored by whole cells.
    """

    def __init__(
        self,
        thickness_mm: float,
        props: SteelProperties = MILD_STEEL,
        dx_mm: float = 0.5,
        behind_mm: float = 60.0,
        ahead_mm: float = 20.0,
        half_width_mm: float = 30.0,
        sigma_mm: float = 0.35,
        h_W_m2K: float = 15.0,
        r_max: float = 0.2,
        use_numba: bool = True,
        x_start_mm: float = 0.0,
    ) -> None:
        if not thickness_mm > 0:
            raise ValueError(f"thickness_mm must be > 0, got {thickness_mm!r}")
        if not 0 < r_max <= 0.25:
            raise ValueError(f"r_max must be in (0, 0.25] for stability, got {r_max!r}")
        self.props = props
        self.thickness_mm = float(thickness_mm)
        self.dx_mm = float(dx_mm)
        self.behind_cells = int(round(behind_mm / dx_mm))
        self.nx = self.behind_cells + int(round(ahead_mm / dx_mm)) + 1
        self.ny = 2 * int(round(half_width_mm / dx_mm)) + 1
        self.y_mm = (np.arange(self.ny) - (self.ny - 1) // 2) * dx_mm
        self.x0_mm = x_start_mm - self.behind_cells * dx_mm  # plate x of column 0
        self.sigma_mm = float(sigma_mm)
        self.r_max = float(r_max)
        self.alpha = props.diffusivity_mm2_s
        self.amp_per_W = 1.0 / (props.volumetric_heat_J_mm3K * self.thickness_mm)
        self.loss_per_s = 2.0 * h_W_m2K * 1e-6 / (props.volumetric_heat_J_mm3K * self.thickness_mm)
        self.T = np.full((self.nx, self.ny), props.ambient_C)
        self._buf = np.empty_like(self.T)
        self._kernel = ftcs_advance_numba if use_numba else ftcs_advance_numpy
        self._xl = np.arange(self.nx) * dx_mm  # local x of columns (relative to x0)
        self.cell_updates = 0
        self._gx: np.ndarray | None = None
        self._gy: np.ndarray | None = None

    @property
    def x_mm(self) -> np.ndarray:
        """Plate x [mm] of the window's columns."""
        return self.x0_mm + self._xl

    def advance(self, dt_s: float, x_from_mm: float, x_to_mm: float, y_arc_mm: float, power_W: float) -> None:
        """Advance the field by ``dt_s`` while the arc moves from ``x_from_mm`` to ``x_to_mm`` at ``y_arc_mm``.

        ``power_W`` is the power into the plate (k · U · I).  Sub-steps are chosen
        so that r = α dt / dx² ≤ ``r_max``; the source moves with each sub-step (``window_sources``).
        """
        n_sub = substeps(dt_s, self.alpha, self.dx_mm, self.r_max)
        if self._gx is None or self._gx.shape[0] != n_sub:
            self._gx = np.empty((n_sub, self.nx))
            self._gy = np.empty((n_sub, self.ny))
        self.x0_mm = window_sources(self.T, self._gx, self._gy, self._xl, self.y_mm, self.x0_mm, self.behind_cells,
                                    self.dx_mm, self.sigma_mm, self.props.ambient_C, x_from_mm, x_to_mm, y_arc_mm)
        dts = dt_s / n_sub
        self._kernel(self.T, self._buf, self._gx, self._gy, power_W * self.amp_per_W, self.alpha * dts / self.dx_mm ** 2,
                     self.loss_per_s, self.props.ambient_C, dts)
        self.cell_updates += n_sub * self.nx * self.ny

    def node_of(self, x_mm: float, y_mm: float) -> tuple[int, int]:
        """Nearest grid node (i, j) of plate point (x, y); may lie outside the window."""
        i = int(math.floor((x_mm - self.x0_mm) / self.dx_mm + 0.5))
        j = int(math.floor(y_mm / self.dx_mm + 0.5)) + (self.ny - 1) // 2
        return i, j

    def sample(self, x_mm, y_mm) -> np.ndarray:
        """Bilinear interpolation of the field at plate points (clamped to the window)."""
        fx = (np.asarray(x_mm, float) - self.x0_mm) / self.dx_mm
        fy = (np.asarray(y_mm, float) - self.y_mm[0]) / self.dx_mm
        fx = np.clip(fx, 0, self.nx - 1 - 1e-9)
        fy = np.clip(fy, 0, self.ny - 1 - 1e-9)
        i = fx.astype(int)
        j = fy.astype(int)
        tx = fx - i
        ty = fy - j
        T = self.T
        return ((1 - tx) * (1 - ty) * T[i, j] + tx * (1 - ty) * T[i + 1, j]
                + (1 - tx) * ty * T[i, j + 1] + tx * ty * T[i + 1, j + 1])
