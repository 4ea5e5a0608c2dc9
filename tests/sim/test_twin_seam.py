"""FilletSeam geometry (pure numpy): offsets and torch orientation for any seam placement."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cell_controller.sim.twin.layout import PART_SEAM
from cell_controller.sim.twin.seam import FilletSeam

PLACEMENTS = [
    Rotation.identity(),
    Rotation.from_euler("z", 90, degrees=True),
    Rotation.from_euler("xyz", [20, -35, 140], degrees=True),
]


@pytest.fixture(params=range(len(PLACEMENTS)), ids=["identity", "yaw90", "tilted"])
def seam(request: pytest.FixtureRequest) -> FilletSeam:
    return PART_SEAM.transformed([100.0, -50.0, 20.0], PLACEMENTS[request.param])


def test_offsets_are_orthogonal_and_sized(seam: FilletSeam) -> None:
    root = seam.point_mm(40.0)
    lateral = seam.point_mm(40.0, lateral_offset_mm=2.0) - root
    height = seam.point_mm(40.0, height_offset_mm=3.0) - root
    assert np.linalg.norm(lateral) == pytest.approx(2.0)
    assert np.linalg.norm(height) == pytest.approx(3.0)
    for a, b in [(lateral, height), (lateral, seam.travel_dir), (height, seam.travel_dir)]:
        assert np.dot(a, b) == pytest.approx(0.0, abs=1e-12)
    # Left of travel: travel x left points along the bisector ("up").
    assert np.dot(np.cross(seam.travel_dir, lateral), seam.bisector) > 0.0


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(("work_deg", "push_deg"), [(45.0, 10.0), (30.0, 0.0), (60.0, 15.0)])
def test_torch_orientation_has_requested_angles(
    seam: FilletSeam, reverse: bool, work_deg: float, push_deg: float
) -> None:
    travel = -seam.travel_dir if reverse else seam.travel_dir
    matrix = Rotation.from_quat(
        seam.torch_orientation_xyzw(travel, math.radians(work_deg), math.radians(push_deg))
    ).as_matrix()
    wire = matrix[:, 2]
    assert math.degrees(math.asin(np.dot(wire, travel))) == pytest.approx(push_deg)
    up_torch = -(wire - np.dot(wire, travel) * travel)
    work = math.degrees(math.atan2(np.dot(up_torch, seam.base_normal), np.dot(up_torch, seam.web_normal)))
    assert work == pytest.approx(work_deg)
    assert np.dot(matrix[:, 0], np.cross(travel, seam.bisector)) > 0.0, "tcp x must point right of travel"


def test_invalid_inputs_are_rejected(seam: FilletSeam) -> None:
    with pytest.raises(ValueError, match="s_mm"):
        seam.point_mm(seam.length_mm + 1.0)
    with pytest.raises(ValueError, match="perpendicular"):
        seam.torch_orientation_xyzw(seam.bisector)
    with pytest.raises(ValueError, match="travel_dir"):
        seam.torch_orientation_xyzw([0.0, 0.0, 0.0])
