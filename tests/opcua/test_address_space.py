from __future__ import annotations

import dataclasses

import pytest

from cell_controller.opcua.address_space import MM, Range, VariableSpec, robot_spec, spec_for


def test_unit_id_packs_unece_code() -> None:
    assert MM.unit_id == (ord("M") << 16) | (ord("M") << 8) | ord("T")


@pytest.mark.parametrize("kind", ["robot", "welder", "press", "cnc", "feeder"])
def test_specs_are_consistent(kind: str) -> None:
    spec = spec_for(kind)
    assert spec.namespace_uri.startswith("urn:cell-controller:")
    assert all(v.default is not None for v in spec.variables)
    assert spec.object_paths[0].count("/") == 0


def test_robot_has_six_axes_and_writable_setpoints() -> None:
    spec = robot_spec()
    axes = [v for v in spec.variables if "/Axes/" in v.path]
    assert len(axes) == 12
    assert spec.variable("MotionDeviceSystem/WeldProcess/TravelSpeedSetpoint").writable


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError):
        Range(1.0, 1.0)
    with pytest.raises(ValueError):
        VariableSpec("A/B", "Float")
    spec = robot_spec()
    with pytest.raises(ValueError, match="duplicate"):
        dataclasses.replace(spec, variables=spec.variables + spec.variables[:1])
    with pytest.raises(ValueError, match="unknown device kind"):
        spec_for("laser")
