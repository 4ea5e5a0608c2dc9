"""Layout of the welding cell and geometry of the butt-joint part, declared once.

All lengths in mm, angles in rad. Cell frame = robot base frame: origin on the
robot mounting surface (top of the pedestal), x forward, y left, z up. Every
surface a part rests on (fixture, conveyor belt, press bed, outfeed) is at
z = 0, the robot mounting height, 850 mm above the floor.

Part: the joint the weld process model welds (`cell_controller.sim.physics.joint`):
a single-side square (I) butt joint of two 5 mm plates lying flat side by side,
joined along their 200 mm edges with the nominal root gap between them, welded
from the top face without backing. Part frame: origin on the underside, in the
middle of the root gap and of the seam, x along the seam, y across it, z up (the
plate normal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .seam import ButtSeam

Station = Literal["conveyor", "fixture", "machine", "out"]

RGBA = tuple[float, float, float, float]
Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Box:
    """Axis-aligned box: centre and full edge lengths in mm, in its body's frame."""

    center_mm: Vec3
    size_mm: Vec3


@dataclass(frozen=True)
class SceneBody:
    """A static body of the cell, made of boxes placed in the cell frame."""

    boxes: tuple[Box, ...]
    rgba: RGBA


@dataclass(frozen=True)
class PlanarPose:
    """Pose of a part frame in the cell frame: position in mm, yaw about cell z in rad."""

    position_mm: Vec3
    yaw_rad: float


FLOOR_Z_MM = -850.0
PEDESTAL_SIZE_MM = (400.0, 400.0, -FLOOR_Z_MM)

PART_PLATE_SIZE_MM: Vec3 = (200.0, 100.0, 5.0)
"""Each of the two plates: length along the seam, width across it, thickness (mm)."""
PART_ROOT_GAP_MM = 1.2
"""Nominal root gap between the plates (mm): the mean gap of the weld model's joint
generator (`cell_controller.sim.physics.joint.JOINT_VARIATION["gap_mean_mm"]`)."""
_PLATE_OFFSET_Y_MM = (PART_PLATE_SIZE_MM[1] + PART_ROOT_GAP_MM) / 2.0
_PLATE_CENTER_Z_MM = PART_PLATE_SIZE_MM[2] / 2.0
PART_LEFT_PLATE_MM = Box(center_mm=(0.0, _PLATE_OFFSET_Y_MM, _PLATE_CENTER_Z_MM), size_mm=PART_PLATE_SIZE_MM)
PART_RIGHT_PLATE_MM = Box(center_mm=(0.0, -_PLATE_OFFSET_Y_MM, _PLATE_CENTER_Z_MM), size_mm=PART_PLATE_SIZE_MM)
PART_RGBA: RGBA = (0.45, 0.47, 0.5, 1.0)
_SEAM_HALF_LENGTH_MM = PART_PLATE_SIZE_MM[0] / 2.0
_SEAM_Z_MM = PART_PLATE_SIZE_MM[2]
PART_SEAM = ButtSeam(
    start_mm=np.array([-_SEAM_HALF_LENGTH_MM, 0.0, _SEAM_Z_MM]),
    end_mm=np.array([_SEAM_HALF_LENGTH_MM, 0.0, _SEAM_Z_MM]),
    normal=np.array([0.0, 0.0, 1.0]),
)
"""The butt seam in the part frame: the joint line on the top face, welded along part +x
(so the left plate, +y, is on the left of travel)."""

# Parts lie with their seam along cell +y (welded from cell -y to +y), so the left of
# travel (part +y) points towards the robot.
PART_YAW_RAD = math.pi / 2.0
FIXTURE_X_MM = 550.0
"""Fixture (and programmed seam) 550 mm in front of the A1 axis: the seam runs from
(550, -100, 5) to (550, 100, 5) mm. With the torch normal to the plates (work angle
90 deg, x of the TCP to the right of travel = away from the robot) the 45 deg gooseneck
puts the wrist point about 200 mm farther out than the wire tip, so at the former
700 mm the seam start was out of reach; at 550 mm the whole seam, with lateral offsets
of +-15 mm, is welded in one configuration (A4 within 10 deg of 0, A5 about 90..100 deg,
>= 20 deg from its limit; every joint moves < 0.5 deg between points 4 mm apart)."""
FIXTURE_POSE = PlanarPose(position_mm=(FIXTURE_X_MM, 0.0, 0.0), yaw_rad=PART_YAW_RAD)
MACHINE_POSE = PlanarPose(position_mm=(700.0, -1000.0, 0.0), yaw_rad=PART_YAW_RAD)
OUTFEED_POSE = PlanarPose(position_mm=(1400.0, -1000.0, 0.0), yaw_rad=PART_YAW_RAD)
STATION_POSES: dict[Station, PlanarPose] = {
    "fixture": FIXTURE_POSE,
    "machine": MACHINE_POSE,
    "out": OUTFEED_POSE,
}
FIXTURE_TOLERANCE_MM = 0.5
"""Half-width of the uniform clamping error of a part in the fixture, per planar axis."""

# The belt runs along -x on the robot's left and ends beside the fixture (infeed side).
CONVEYOR_START_MM: Vec3 = (1900.0, 600.0, 0.0)
CONVEYOR_DIR: Vec3 = (-1.0, 0.0, 0.0)
CONVEYOR_LENGTH_MM = 1200.0

_GREY: RGBA = (0.6, 0.6, 0.6, 1.0)
_DARK: RGBA = (0.25, 0.25, 0.28, 1.0)
_TABLE_HEIGHT_MM = -FLOOR_Z_MM
_BELT_THICKNESS_MM = 100.0

SCENE: dict[str, SceneBody] = {
    "floor": SceneBody((Box((0.0, 0.0, FLOOR_Z_MM - 5.0), (6000.0, 6000.0, 10.0)),), (0.8, 0.8, 0.78, 1.0)),
    "pedestal": SceneBody((Box((0.0, 0.0, FLOOR_Z_MM / 2.0), PEDESTAL_SIZE_MM),), _DARK),
    "fixture": SceneBody((Box((FIXTURE_X_MM, 0.0, -_TABLE_HEIGHT_MM / 2.0), (500.0, 700.0, _TABLE_HEIGHT_MM)),), _GREY),
    "conveyor": SceneBody(
        (Box((1300.0, 600.0, -_BELT_THICKNESS_MM / 2.0), (1300.0, 300.0, _BELT_THICKNESS_MM)),), (0.1, 0.1, 0.1, 1.0)
    ),
    # Press: bed, two side columns (open towards the cell, +y), crown.
    "machine": SceneBody(
        (
            Box((700.0, -1000.0, -_TABLE_HEIGHT_MM / 2.0), (600.0, 600.0, _TABLE_HEIGHT_MM)),
            Box((450.0, -1000.0, 400.0), (100.0, 600.0, 800.0)),
            Box((950.0, -1000.0, 400.0), (100.0, 600.0, 800.0)),
            Box((700.0, -1000.0, 1000.0), (600.0, 600.0, 400.0)),
        ),
        (0.2, 0.45, 0.7, 1.0),
    ),
    "outfeed": SceneBody((Box((1400.0, -1000.0, -_TABLE_HEIGHT_MM / 2.0), (500.0, 600.0, _TABLE_HEIGHT_MM)),), _GREY),
}
