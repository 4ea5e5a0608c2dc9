"""Layout of the welding cell and geometry of the T-joint part, declared once.

All lengths in mm, angles in rad. Cell frame = robot base frame: origin on the
robot mounting surface (top of the pedestal), x forward, y left, z up. Every
surface a part rests on (fixture, conveyor belt, press bed, outfeed) is at
z = 0, the robot mounting height, 850 mm above the floor.

Part frame: origin at the centre of the underside of the base plate, x along
the seam, z up; the web stands on the base plate's centre line and the welded
fillet is the inside corner on the web's +y side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .seam import FilletSeam

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

PART_BASE_PLATE_MM = Box(center_mm=(0.0, 0.0, 2.5), size_mm=(200.0, 100.0, 5.0))
PART_WEB_PLATE_MM = Box(center_mm=(0.0, 0.0, 30.0), size_mm=(200.0, 5.0, 50.0))
PART_RGBA: RGBA = (0.45, 0.47, 0.5, 1.0)
_SEAM_Y_MM = PART_WEB_PLATE_MM.size_mm[1] / 2.0
_SEAM_Z_MM = PART_BASE_PLATE_MM.size_mm[2]
_SEAM_HALF_LENGTH_MM = PART_BASE_PLATE_MM.size_mm[0] / 2.0
PART_SEAM = FilletSeam(
    start_mm=np.array([-_SEAM_HALF_LENGTH_MM, _SEAM_Y_MM, _SEAM_Z_MM]),
    end_mm=np.array([_SEAM_HALF_LENGTH_MM, _SEAM_Y_MM, _SEAM_Z_MM]),
    base_normal=np.array([0.0, 0.0, 1.0]),
    web_normal=np.array([0.0, 1.0, 0.0]),
)
"""The fillet seam in the part frame, welded along part +x."""

# Parts lie with their seam along cell +y and the welded side facing the robot.
PART_YAW_RAD = math.pi / 2.0
FIXTURE_POSE = PlanarPose(position_mm=(700.0, 0.0, 0.0), yaw_rad=PART_YAW_RAD)
MACHINE_POSE = PlanarPose(position_mm=(700.0, -1000.0, 0.0), yaw_rad=PART_YAW_RAD)
OUTFEED_POSE = PlanarPose(position_mm=(1400.0, -1000.0, 0.0), yaw_rad=PART_YAW_RAD)
STATION_POSES: dict[Station, PlanarPose] = {
    "fixture": FIXTURE_POSE,
    "machine": MACHINE_POSE,
    "out": OUTFEED_POSE,
}
FIXTURE_TOLERANCE_MM = 0.5
"""Half-width of the uniform clamping error of a part in the fixture, per planar axis."""

# The belt runs along -x on the robot's left and ends beside the fixture.
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
    "fixture": SceneBody((Box((700.0, 0.0, -_TABLE_HEIGHT_MM / 2.0), (500.0, 700.0, _TABLE_HEIGHT_MM)),), _GREY),
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
