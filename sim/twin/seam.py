"""Geometry of a straight square-butt seam and of the torch held on it (pure numpy).

The joint is the one the weld process model welds (`cell_controller.sim.physics.joint`):
a single-side square-groove (I) butt joint of two flat plates with a root gap,
welded from the top face. The seam line runs along the middle of the gap on the
top face.

All positions are in millimetres and all directions are unit vectors, both in
whatever frame the seam is given in (the cell frame inside `CellWorld`).
Quaternions are (x, y, z, w).

Torch conventions (AWS A3.0 terms):
- work angle: angle between the torch axis and the plate surface on the left of
  travel, measured in the plane perpendicular to the travel direction; 90 deg
  (the butt-joint default) holds the torch normal to the plates, smaller angles
  lean the torch body over the left plate;
- push angle: tilt of the torch axis towards the travel direction, the wire
  pointing ahead of the torch (forehand technique).
The TCP frame follows the robot URDF: z along the wire (towards the work),
x to the right of travel, y = z cross x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation

WORK_ANGLE_RAD = math.radians(90.0)
PUSH_ANGLE_RAD = math.radians(10.0)
"""Forehand push angle; the weld process model assumes none, 10 deg is common GMAW practice."""


def unit(vector: ArrayLike, name: str = "vector") -> np.ndarray:
    """Return `vector` normalised to length 1; raise ValueError for a zero or non-finite vector."""
    v = np.asarray(vector, dtype=float)
    norm = float(np.linalg.norm(v))
    if v.shape != (3,) or not math.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"{name} must be a finite non-zero 3-vector, got {vector!r}")
    return v / norm


@dataclass(frozen=True, eq=False)
class ButtSeam:
    """A straight square-butt seam between two plates lying side by side in one plane.

    start_mm, end_mm: the joint line on the top face (middle of the root gap), mm;
    travel goes start -> end.
    normal: unit normal of the plates' top face, pointing out of the plates (towards the torch).
    """

    start_mm: np.ndarray
    end_mm: np.ndarray
    normal: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_mm", np.asarray(self.start_mm, dtype=float))
        object.__setattr__(self, "end_mm", np.asarray(self.end_mm, dtype=float))
        object.__setattr__(self, "normal", unit(self.normal, "normal"))
        if abs(float(np.dot(self.normal, self.travel_dir))) > 1e-9:
            raise ValueError(f"normal must be perpendicular to the seam, got {self.normal!r}")

    @property
    def length_mm(self) -> float:
        """Seam length in mm."""
        return float(np.linalg.norm(self.end_mm - self.start_mm))

    @property
    def travel_dir(self) -> np.ndarray:
        """Unit vector from start to end."""
        return unit(self.end_mm - self.start_mm, "seam direction")

    @property
    def left_dir(self) -> np.ndarray:
        """Unit vector in the plate plane to the left of travel, seen along travel with the normal as up."""
        return np.cross(self.normal, self.travel_dir)

    def point_mm(self, s_mm: float, lateral_offset_mm: float = 0.0, height_offset_mm: float = 0.0) -> np.ndarray:
        """Point at arc length `s_mm` from the start, offset in the plane perpendicular to travel.

        lateral_offset_mm: in the plate plane along `left_dir` (positive = left of the travel
        direction); height_offset_mm: along the plate normal (positive = away from the
        plates, up from the top face). All in mm.
        """
        if not 0.0 <= s_mm <= self.length_mm:
            raise ValueError(f"s_mm must lie in [0, {self.length_mm:.3f}] mm, got {s_mm!r}")
        return (
            self.start_mm
            + s_mm * self.travel_dir
            + lateral_offset_mm * self.left_dir
            + height_offset_mm * self.normal
        )

    def torch_orientation_xyzw(
        self,
        travel_dir: ArrayLike | None = None,
        work_angle_rad: float = WORK_ANGLE_RAD,
        push_angle_rad: float = PUSH_ANGLE_RAD,
    ) -> np.ndarray:
        """TCP orientation (quaternion x, y, z, w) for welding this seam along `travel_dir`.

        travel_dir: travel direction (any length, its component along the seam line is
        kept); default: start -> end. Angles in rad, see the module docstring (the work
        angle is measured from the plate on the left of *this* travel direction).
        """
        direction = self.travel_dir if travel_dir is None else unit(travel_dir, "travel_dir")
        along = float(np.dot(direction, self.travel_dir))
        if abs(along) < 1e-9:
            raise ValueError(f"travel_dir must not be perpendicular to the seam, got {travel_dir!r}")
        travel = math.copysign(1.0, along) * self.travel_dir
        left = np.cross(self.normal, travel)
        # Direction in the cross-section plane at `work_angle` from the left plate,
        # pointing from the joint up the torch.
        up_torch = math.cos(work_angle_rad) * left + math.sin(work_angle_rad) * self.normal
        wire = -math.cos(push_angle_rad) * up_torch + math.sin(push_angle_rad) * travel
        right = np.cross(travel, up_torch)
        x_axis = unit(right - np.dot(right, wire) * wire, "tcp x axis")
        y_axis = np.cross(wire, x_axis)
        quat: np.ndarray = Rotation.from_matrix(np.column_stack((x_axis, y_axis, wire))).as_quat()
        return quat

    def transformed(self, position_mm: ArrayLike, rotation: Rotation) -> ButtSeam:
        """This seam moved by a rigid transform (rotation, then translation by `position_mm`)."""
        offset = np.asarray(position_mm, dtype=float)
        return ButtSeam(
            start_mm=rotation.apply(self.start_mm) + offset,
            end_mm=rotation.apply(self.end_mm) + offset,
            normal=rotation.apply(self.normal),
        )
