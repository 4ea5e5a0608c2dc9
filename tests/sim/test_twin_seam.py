"""ButtSeam geometry (pure numpy): offsets and torch orientation for any seam placement."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cell_controller.sim.twin.layout import PART_SEAM
from cell_controller.sim.twin.seam import PUSH_ANGLE_RAD, WORK_ANGLE_RAD, ButtSeam

PLACEMENTS = [
    Rotation.identity(),
    Rotation.from_euler("z", 90, degrees=True),
    Rotation.from_euler("xyz", [20, -35, 140], degrees=True),
]


@pytest.fixture(params=range(len(PLACEMENTS)), ids=["identity", "yaw90", "tilted"])
def seam(request: pytest.FixtureRequest) -> ButtSeam:
    return PART_SEAM.transformed([100.0, -50.0, 20.0], PLACEMENTS[request.param])


def test_offsets_are_orthogonal_and_sized(seam: ButtSeam) -> None:
    root = seam.point_mm(40.0)
    lateral = seam.point_mm(40.0, lateral_offset_mm=2.0) - root
    height = seam.point_mm(40.0, height_offset_mm=3.0) - root
    assert np.linalg.norm(lateral) == pytest.approx(2.0)
    assert np.linalg.norm(height) == pytest.approx(3.0)
    for a, b in [(lateral, height), (lateral, seam.travel_dir), (height, seam.travel_dir)]:
        assert np.dot(a, b) == pytest.approx(0.0, abs=1e-12)
    # Lateral stays in the plate plane; height goes along the plate normal, away from the plates.
    assert np.dot(lateral, seam.normal) == pytest.approx(0.0, abs=1e-12)
    assert np.dot(height, seam.normal) == pytest.approx(3.0)
    # Left of travel: travel x left points along the normal ("up").
    assert np.dot(np.cross(seam.travel_dir, lateral), seam.normal) > 0.0


def test_default_torch_is_normal_to_the_plates_with_a_push_angle(seam: ButtSeam) -> None:
    assert math.degrees(WORK_ANGLE_RAD) == pytest.approx(90.0)
    wire = Rotation.from_quat(seam.torch_orientation_xyzw()).apply([0.0, 0.0, 1.0])
    # Wire into the plates, tilted from the normal only towards travel (no side tilt).
    assert np.dot(wire, -seam.normal) == pytest.approx(math.cos(PUSH_ANGLE_RAD))
    assert np.dot(wire, seam.travel_dir) == pytest.approx(math.sin(PUSH_ANGLE_RAD))
    assert np.dot(wire, seam.left_dir) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(("work_deg", "push_deg"), [(90.0, 10.0), (90.0, 0.0), (75.0, 15.0), (100.0, 5.0)])
def test_torch_orientation_has_requested_angles(
    seam: ButtSeam, reverse: bool, work_deg: float, push_deg: float
) -> None:
    travel = -seam.travel_dir if reverse else seam.travel_dir
    left = np.cross(seam.normal, travel)
    matrix = Rotation.from_quat(
        seam.torch_orientation_xyzw(travel, math.radians(work_deg), math.radians(push_deg))
    ).as_matrix()
    wire = matrix[:, 2]
    assert math.degrees(math.asin(np.dot(wire, travel))) == pytest.approx(push_deg)
    up_torch = -(wire - np.dot(wire, travel) * travel)
    work = math.degrees(math.atan2(np.dot(up_torch, seam.normal), np.dot(up_torch, left)))
    assert work == pytest.approx(work_deg)
    assert np.dot(matrix[:, 0], np.cross(travel, seam.normal)) > 0.0, "tcp x must point right of travel"


def test_invalid_inputs_are_rejected(seam: ButtSeam) -> None:
    with pytest.raises(ValueError, match="s_mm"):
        seam.point_mm(seam.length_mm + 1.0)
    with pytest.raises(ValueError, match="perpendicular"):
        seam.torch_orientation_xyzw(seam.normal)
    with pytest.raises(ValueError, match="travel_dir"):
        seam.torch_orientation_xyzw([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="normal"):
        ButtSeam(seam.start_mm, seam.end_mm, seam.travel_dir)
