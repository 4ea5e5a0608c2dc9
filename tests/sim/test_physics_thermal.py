"""Thermal kernel: numba == numpy reference, energy balance, Rosenthal thin-plate match."""
from __future__ import annotations

import numpy as np
import pytest

from cell_controller.sim.physics.thermal import (
    MILD_STEEL,
    ThermalWindow,
    ftcs_advance_numba,
    ftcs_advance_numpy,
    gaussian_weights,
    gaussian_weights_into,
    rosenthal_finite_plate_3d,
    rosenthal_thin_plate,
)


def test_numba_kernel_equals_numpy_reference_on_random_field():
    rng = np.random.default_rng(7)
    T1 = 20.0 + 1500.0 * rng.random((37, 23))
    T2 = T1.copy()
    buf = np.empty_like(T1)
    gx = rng.random((3, 37))
    gy = rng.random((3, 23))
    ftcs_advance_numba(T1, buf, gx, gy, 500.0, 0.22, 1e-3, 20.0, 0.005)
    ftcs_advance_numpy(T2, buf, gx, gy, 500.0, 0.22, 1e-3, 20.0, 0.005)
    np.testing.assert_allclose(T1, T2, rtol=1e-12, atol=1e-9)
    assert not np.allclose(T1, 20.0 + 1500.0 * np.random.default_rng(7).random((37, 23)))


@pytest.mark.parametrize("n_sub_odd", [True, False])
def test_windows_numba_and_numpy_agree_while_moving(n_sub_odd):
    dt = 0.015 if n_sub_odd else 0.011  # 3 or 2 sub-steps
    a = ThermalWindow(5.0, behind_mm=20, ahead_mm=8, half_width_mm=8, use_numba=True)
    b = ThermalWindow(5.0, behind_mm=20, ahead_mm=8, half_width_mm=8, use_numba=False)
    x = 0.0
    for k in range(60):
        y = 0.3 * np.sin(0.2 * k)
        a.advance(dt, x, x + 0.15, y, 4000.0)
        b.advance(dt, x, x + 0.15, y, 4000.0)
        x += 0.15
    assert a.x0_mm == b.x0_mm and a.x0_mm > -20.0  # the window has moved
    np.testing.assert_allclose(a.T, b.T, rtol=1e-11, atol=1e-8)
    assert a.T.max() > 1000.0


def test_gaussian_weights_numba_matches_numpy_and_conserve_power():
    xs = np.linspace(0, 20, 41)
    c = np.array([3.1, 10.0, 19.9])
    w = gaussian_weights(c, xs, 0.35, 0.5)
    out = np.empty_like(w)
    gaussian_weights_into(out, c, xs, 0.35, 0.5)
    np.testing.assert_allclose(out, w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w.sum(axis=1) * 0.5, 1.0)


def test_energy_balance_without_losses():
    """Before heat reaches the window edges, the window's heat content equals q · t."""
    w = ThermalWindow(5.0, h_W_m2K=0.0, behind_mm=40, ahead_mm=20, half_width_mm=20)
    q, dt, v = 3000.0, 0.02, 5.0
    x = 0.0
    for _ in range(50):  # 1 s, 5 mm of travel: no re-anchoring loss yet
        w.advance(dt, x, x + v * dt, 0.0, q)
        x += v * dt
    p = MILD_STEEL
    heat_J = np.sum(w.T - p.ambient_C) * p.volumetric_heat_J_mm3K * 5.0 * w.dx_mm ** 2
    assert heat_J == pytest.approx(q * 1.0, rel=1e-6)


def test_quasi_steady_field_matches_rosenthal_thin_plate():
    """Median relative error of the temperature rise < 3 % at 5..20 mm from the source.

    Points on circles of 5, 10, 15, 20 mm at 10° steps, where the Rosenthal rise is > 50 K
    (ahead of and beside the arc the rise is far below 1 K, and a relative error of nothing
    means nothing).  Constant properties, no losses, far from the window edges.
    """
    q, v, d = 0.8 * 24 * 230, 7.0, 5.0
    w = ThermalWindow(d, h_W_m2K=0.0, behind_mm=60, ahead_mm=20, half_width_mm=30)
    x, dt = 0.0, 0.02
    while x < 150.0:
        w.advance(dt, x, x + v * dt, 0.0, q)
        x += v * dt
    ang = np.radians(np.arange(0, 360, 10))
    errs = []
    for r in (5.0, 10.0, 15.0, 20.0):
        xi, y = r * np.cos(ang), r * np.sin(ang)
        t_fd = w.sample(x + xi, y)
        t_ro = rosenthal_thin_plate(xi, y, q, v, d)
        rise = t_ro - MILD_STEEL.ambient_C
        m = rise > 50.0
        errs.append(np.abs(t_fd[m] - t_ro[m]) / rise[m])
    e = np.concatenate(errs)
    assert e.size > 60
    assert np.median(e) < 0.03
    # and behind the arc on the centre line, each point within 3 %
    xi = -np.array([5.0, 10.0, 15.0, 20.0])
    t_fd = w.sample(x + xi, 0 * xi)
    t_ro = rosenthal_thin_plate(xi, 0 * xi, q, v, d)
    assert np.all(np.abs(t_fd - t_ro) / (t_ro - 20.0) < 0.03)


def test_finite_plate_3d_averages_to_thin_plate():
    """The through-thickness mean of the image solution is the line source (basis of the 3-D correction)."""
    d = 5.0
    z = np.linspace(0, d, 401)
    for xi, y in ((-8.0, 2.0), (-3.0, 4.0), (1.0, 3.0)):
        t3 = rosenthal_finite_plate_3d(xi, y, z, 4000.0, 8.0, d, n_images=12) - 20.0
        mean = np.trapezoid(t3, z) / d
        t2 = rosenthal_thin_plate(xi, y, 4000.0, 8.0, d) - 20.0
        assert mean == pytest.approx(t2, rel=2e-3)
        assert t3[0] > t2 > t3[-1]  # hotter at the top face than at the root


def test_invalid_window_parameters_raise():
    with pytest.raises(ValueError, match="thickness_mm"):
        ThermalWindow(0.0)
    with pytest.raises(ValueError, match="r_max"):
        ThermalWindow(5.0, r_max=0.3)
