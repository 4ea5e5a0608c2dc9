"""Kinematic PyBullet world of the welding cell: robot + torch, fixture, conveyor, press, outfeed, parts.

Public API units: millimetres, radians, seconds; quaternions are (x, y, z, w).
Every pose is in the cell frame = robot base frame (x forward, y left, z up,
origin on the robot mounting surface); see `layout` for where things stand.

The world is kinematic: joints and parts are placed with resetJointState /
resetBasePositionAndOrientation and the simulation is never stepped, so every
call is cheap and deterministic. One `CellWorld` owns one PyBullet DIRECT
client and a name -> body registry (scene bodies and parts share it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import pybullet as pb
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation

from .layout import (
    CONVEYOR_DIR,
    CONVEYOR_LENGTH_MM,
    CONVEYOR_START_MM,
    FIXTURE_POSE,
    FIXTURE_TOLERANCE_MM,
    PART_LEFT_PLATE_MM,
    PART_RGBA,
    PART_RIGHT_PLATE_MM,
    PART_SEAM,
    PART_YAW_RAD,
    RGBA,
    SCENE,
    STATION_POSES,
    Box,
    PlanarPose,
    Station,
)

ROBOT_URDF = Path(__file__).with_name("urdf") / "kr6_r900_sixx_torch.urdf"
TCP_LINK = "tcp"
M_PER_MM = 1e-3
HOME_RAD = np.radians([0.0, -90.0, 90.0, 0.0, 90.0, 0.0])
"""Safe home: upper arm vertical, forearm horizontal, flange down; TCP about 490 mm above the fixture surface."""
APPROACH_CLEARANCE_MM = 60.0
"""Distance from the seam start back along the wire axis for the approach pose."""

IK_JOINT_DAMPING = 1e-3
"""Damped-least-squares damping per joint; small enough for Newton-like convergence."""
IK_ITERATIONS_PER_PASS = 20
IK_RESIDUAL_M = 1e-6
IK_REFINEMENT_PASSES = 3
IK_POSITION_TOLERANCE_MM = 0.1
IK_ORIENTATION_TOLERANCE_RAD = math.radians(0.1)
JOINT_ARRIVAL_TOLERANCE_RAD = 1e-9
FULL_TURN_RAD = 2.0 * math.pi


class UnreachablePoseError(ValueError):
    """The IK found no joint solution within limits that reaches the pose within tolerance."""


@dataclass
class _Part:
    body_id: int
    station: Station


class CellWorld:
    """The cell as a kinematic PyBullet world (DIRECT, headless).

    seed: seeds the clamping error of parts placed in the fixture.
    fixture_tolerance_mm: half-width of that uniform error along and across the seam (mm);
    0 clamps every part exactly on the programmed seam.
    """

    def __init__(self, seed: int = 0, fixture_tolerance_mm: float = FIXTURE_TOLERANCE_MM) -> None:
        if not fixture_tolerance_mm >= 0.0:
            raise ValueError(f"fixture_tolerance_mm must be >= 0, got {fixture_tolerance_mm!r}")
        self._rng = np.random.default_rng(seed)
        self._fixture_tolerance_mm = fixture_tolerance_mm
        self._client: int = pb.connect(pb.DIRECT)
        self._bodies: dict[str, int] = {}
        self._parts: dict[str, _Part] = {}
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        """Create the scene bodies and the robot; read joint names, limits and speeds from the URDF."""
        for name, body in SCENE.items():
            self._bodies[name] = self._create_body(self._box_shapes(body.boxes, body.rgba))
        self._robot = pb.loadURDF(
            str(ROBOT_URDF), useFixedBase=True, flags=pb.URDF_USE_INERTIA_FROM_FILE, physicsClientId=self._client
        )
        self._bodies["robot"] = self._robot
        num_links = pb.getNumJoints(self._robot, physicsClientId=self._client)
        joints = [pb.getJointInfo(self._robot, i, physicsClientId=self._client) for i in range(num_links)]
        revolute = [j for j in joints if j[2] == pb.JOINT_REVOLUTE]
        self._joint_indices = [j[0] for j in revolute]
        self.joint_names: tuple[str, ...] = tuple(j[1].decode() for j in revolute)
        self._limits: tuple[tuple[float, float], ...] = tuple((j[8], j[9]) for j in revolute)
        self._speed_rad_s = np.array([j[11] for j in revolute])
        self._ik_damping = [IK_JOINT_DAMPING] * len(revolute)
        self._tcp_link = next(j[0] for j in joints if j[12].decode() == TCP_LINK)
        self._part_shape = self._box_shapes((PART_LEFT_PLATE_MM, PART_RIGHT_PLATE_MM), PART_RGBA)
        self._programmed_seam = PART_SEAM.transformed(
            FIXTURE_POSE.position_mm, Rotation.from_euler("z", FIXTURE_POSE.yaw_rad)
        )
        # The programmed seam is fixed for the world's lifetime: its frame and the welding
        # orientation are computed once here (the weld step asks for them at every step).
        seam = self._programmed_seam
        self._seam_start_mm = seam.start_mm.copy()
        self._seam_travel_dir = seam.travel_dir
        self._seam_left_dir = seam.left_dir
        self._seam_normal = seam.normal
        self._seam_length_mm = seam.length_mm
        self._torch_quat = seam.torch_orientation_xyzw()
        self.set_joint_positions_rad(HOME_RAD)

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Disconnect the PyBullet client; safe to call twice."""
        if self._client >= 0:
            pb.disconnect(physicsClientId=self._client)
            self._client = -1

    def __enter__(self) -> CellWorld:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def client_id(self) -> int:
        """The PyBullet physics client id (-1 once closed)."""
        return self._client

    def body_id(self, name: str) -> int:
        """PyBullet body id of a scene body ("floor", "pedestal", "robot", "fixture",
        "conveyor", "machine", "outfeed") or of a part by its id."""
        try:
            return self._bodies[name]
        except KeyError:
            raise KeyError(f"no body named {name!r}; known: {sorted(self._bodies)}") from None

    # -- robot ----------------------------------------------------------------------------
    @property
    def home_rad(self) -> np.ndarray:
        """The safe home pose, joints A1..A6 in rad."""
        return HOME_RAD.copy()

    def joint_positions_rad(self) -> np.ndarray:
        """Joint positions A1..A6 in rad (KUKA sign convention)."""
        return np.array(self._read_joints())

    def set_joint_positions_rad(self, q_rad: ArrayLike) -> None:
        """Place the robot at joint positions `q_rad` (rad); raise ValueError outside the limits."""
        self._write_joints(self._checked_joints(q_rad, "q_rad"))

    def joint_limits_rad(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) joint limits in rad, from the URDF (datasheet ranges)."""
        lower, upper = np.array(self._limits).T
        return lower, upper

    def joint_speed_limits_rad_s(self) -> np.ndarray:
        """Maximum joint speeds in rad/s, from the URDF (datasheet figures)."""
        return self._speed_rad_s.copy()

    def tcp_pose_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the wire tip: position (mm) and orientation quaternion (x, y, z, w), cell frame.

        TCP frame: z along the wire towards the work, x in the gooseneck's bend plane.
        """
        state = pb.getLinkState(self._robot, self._tcp_link, computeForwardKinematics=1, physicsClientId=self._client)
        return np.array(state[4]) / M_PER_MM, np.array(state[5])

    def solve_ik_rad(
        self, position_mm: ArrayLike, orientation_xyzw: ArrayLike, seed_rad: ArrayLike | None = None
    ) -> np.ndarray:
        """Joint positions (rad) that put the TCP at `position_mm` (mm) with `orientation_xyzw`.

        Damped least squares (PyBullet) started from `seed_rad` (default: the current
        joints), refined for up to IK_REFINEMENT_PASSES passes and checked by forward
        kinematics; revolute joints are wrapped by 2 pi into their limits where that helps.
        The robot is left where it was. Raises UnreachablePoseError when the best solution
        is outside the joint limits or misses the pose by more than IK_POSITION_TOLERANCE_MM /
        IK_ORIENTATION_TOLERANCE_RAD.
        """
        target_mm = np.asarray(position_mm, dtype=float)
        target_quat = np.asarray(orientation_xyzw, dtype=float)
        quat_norm = float(np.linalg.norm(target_quat))
        if (
            target_mm.shape != (3,)
            or target_quat.shape != (4,)
            or not math.isfinite(quat_norm)
            or not all(math.isfinite(v) for v in target_mm.tolist())
            or quat_norm == 0.0
        ):
            raise ValueError(
                f"expected a 3-vector in mm and a quaternion (x, y, z, w), got {position_mm!r}, {orientation_xyzw!r}"
            )
        target_quat = target_quat / quat_norm
        target_m = (target_mm * M_PER_MM).tolist()
        target_quat_list = target_quat.tolist()
        saved = self._read_joints()
        if seed_rad is not None:
            self._write_joints(self._checked_joints(seed_rad, "seed_rad"))
        try:
            for _ in range(IK_REFINEMENT_PASSES):
                q = self._wrapped_into_limits(
                    pb.calculateInverseKinematics(
                        self._robot,
                        self._tcp_link,
                        target_m,
                        target_quat_list,
                        jointDamping=self._ik_damping,
                        maxNumIterations=IK_ITERATIONS_PER_PASS,
                        residualThreshold=IK_RESIDUAL_M,
                        physicsClientId=self._client,
                    )
                )
                self._write_joints(q)
                state = pb.getLinkState(
                    self._robot, self._tcp_link, computeForwardKinematics=1, physicsClientId=self._client
                )
                position_error_mm = math.dist(state[4], target_m) / M_PER_MM
                cos_half_angle = abs(sum(a * b for a, b in zip(state[5], target_quat_list, strict=True)))
                angle_error_rad = 2.0 * math.acos(min(1.0, cos_half_angle))
                if position_error_mm <= IK_POSITION_TOLERANCE_MM and angle_error_rad <= IK_ORIENTATION_TOLERANCE_RAD:
                    break
        finally:
            self._write_joints(saved)
        outside = [
            name for name, v, (lo, hi) in zip(self.joint_names, q, self._limits, strict=True) if not lo <= v <= hi
        ]
        if outside or position_error_mm > IK_POSITION_TOLERANCE_MM or angle_error_rad > IK_ORIENTATION_TOLERANCE_RAD:
            raise UnreachablePoseError(
                f"pose {target_mm.round(3).tolist()} mm / {target_quat.round(4).tolist()} unreachable: "
                f"position error {position_error_mm:.3f} mm, "
                f"orientation error {math.degrees(angle_error_rad):.3f} deg, "
                f"joints outside limits: {outside or 'none'}"
            )
        return np.array(q)

    def move_joints_towards(self, q_target_rad: ArrayLike, dt_s: float) -> bool:
        """Advance the robot one time step `dt_s` (s) on a synchronised joint move (PTP) to `q_target_rad` (rad).

        All joints move along the straight joint-space line and arrive together; no joint
        exceeds its speed limit. Returns True once the target is reached.
        """
        if not dt_s > 0.0:
            raise ValueError(f"dt_s must be > 0 s, got {dt_s!r}")
        target = np.array(self._checked_joints(q_target_rad, "q_target_rad"))
        remaining = target - self.joint_positions_rad()
        distance = np.abs(remaining)
        moving = distance > JOINT_ARRIVAL_TOLERANCE_RAD
        if not moving.any():
            self._write_joints(target.tolist())
            return True
        fraction = min(1.0, float(np.min(self._speed_rad_s[moving] * dt_s / distance[moving])))
        self._write_joints((target if fraction >= 1.0 else target - (1.0 - fraction) * remaining).tolist())
        return fraction >= 1.0

    def approach_pose_rad(self) -> np.ndarray:
        """Joints (rad) with the torch in welding orientation APPROACH_CLEARANCE_MM back along
        the wire axis from the programmed seam start; IK seeded from home."""
        orientation = self.torch_orientation_xyzw()
        wire_dir = Rotation.from_quat(orientation).apply([0.0, 0.0, 1.0])
        position_mm = self._programmed_seam.start_mm - APPROACH_CLEARANCE_MM * wire_dir
        return self.solve_ik_rad(position_mm, orientation, seed_rad=self.home_rad)

    # -- programmed seam ------------------------------------------------------------------
    def seam_path_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of the programmed seam in mm: the seam of a part clamped exactly in the fixture."""
        return self._programmed_seam.start_mm.copy(), self._programmed_seam.end_mm.copy()

    @property
    def seam_length_mm(self) -> float:
        """Length of the programmed seam in mm."""
        return self._seam_length_mm

    def seam_point_mm(self, s_mm: float, lateral_offset_mm: float = 0.0, height_offset_mm: float = 0.0) -> np.ndarray:
        """Point (mm) on the programmed seam at `s_mm` from its start, offset in the plane perpendicular to travel.

        lateral_offset_mm: in the plate plane, positive = to the left of the travel direction
        (seen along travel with the plate normal as up; here towards the robot, cell -x).
        height_offset_mm: along the plate normal, positive = up, away from the top face.
        """
        # same arithmetic as ButtSeam.point_mm, on the cached seam frame
        if not 0.0 <= s_mm <= self._seam_length_mm:
            raise ValueError(f"s_mm must lie in [0, {self._seam_length_mm:.3f}] mm, got {s_mm!r}")
        return (
            self._seam_start_mm
            + s_mm * self._seam_travel_dir
            + lateral_offset_mm * self._seam_left_dir
            + height_offset_mm * self._seam_normal
        )

    def torch_orientation_xyzw(self, travel_dir: ArrayLike | None = None) -> np.ndarray:
        """TCP quaternion (x, y, z, w) for the programmed seam: wire normal to the plates
        (work angle 90 deg) tilted by the 10 deg push angle towards travel.

        travel_dir: cell-frame travel direction, default the seam's start -> end.
        """
        if travel_dir is None:
            return self._torch_quat.copy()
        return self._programmed_seam.torch_orientation_xyzw(travel_dir)

    # -- parts ----------------------------------------------------------------------------
    @property
    def conveyor_length_mm(self) -> float:
        """Length of the belt travel from the infeed end to the fixture end, mm."""
        return CONVEYOR_LENGTH_MM

    def spawn_part(self, part_id: str) -> None:
        """Create a butt-joint blank (two plates, root gap between them) at the start of the
        conveyor (s = 0) and register it as `part_id`."""
        if part_id in self._bodies:
            raise ValueError(f"a body named {part_id!r} already exists")
        body = self._create_body(self._part_shape)
        self._bodies[part_id] = body
        self._parts[part_id] = _Part(body_id=body, station="conveyor")
        self.set_part_on_conveyor(part_id, 0.0)

    def set_part_on_conveyor(self, part_id: str, s_mm: float) -> None:
        """Place a part that is on the conveyor at `s_mm` (mm) along the belt from its infeed end."""
        part = self._part(part_id)
        if part.station != "conveyor":
            raise ValueError(f"part {part_id!r} is at {part.station!r}, not on the conveyor")
        if not 0.0 <= s_mm <= CONVEYOR_LENGTH_MM:
            raise ValueError(f"s_mm must lie in [0, {CONVEYOR_LENGTH_MM}] mm, got {s_mm!r}")
        position = np.asarray(CONVEYOR_START_MM) + s_mm * np.asarray(CONVEYOR_DIR)
        self._place(part.body_id, PlanarPose(tuple(position), PART_YAW_RAD))

    def move_part(self, part_id: str, station: Station) -> None:
        """Transfer a part to "fixture", "machine" or "out"; the fixture and the machine hold one part each.

        In the fixture the part is clamped with a seeded uniform error of up to
        fixture_tolerance_mm along cell x (across the seam) and cell y (along it).
        """
        part = self._part(part_id)
        if station not in STATION_POSES:
            raise ValueError(f"station must be one of {sorted(STATION_POSES)}, got {station!r}")
        if station != "out":
            holder = next((pid for pid, p in self._parts.items() if p.station == station and pid != part_id), None)
            if holder is not None:
                raise ValueError(f"cannot move {part_id!r} to {station!r}: it holds part {holder!r}")
        pose = STATION_POSES[station]
        if station == "fixture":
            error_mm = self._rng.uniform(-self._fixture_tolerance_mm, self._fixture_tolerance_mm, size=2)
            pose = PlanarPose(tuple(np.asarray(pose.position_mm) + np.append(error_mm, 0.0)), pose.yaw_rad)
        self._place(part.body_id, pose)
        part.station = station

    def part_station(self, part_id: str) -> Station:
        """Where the part is: "conveyor", "fixture", "machine" or "out"."""
        return self._part(part_id).station

    def part_pose_mm(self, part_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the part frame: position (mm) and quaternion (x, y, z, w), cell frame."""
        position_m, quat = pb.getBasePositionAndOrientation(self._part(part_id).body_id, physicsClientId=self._client)
        return np.array(position_m) / M_PER_MM, np.array(quat)

    def part_seam_path_mm(self, part_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) in mm of the seam of the part as it actually lies (includes the clamping error)."""
        position_mm, quat = self.part_pose_mm(part_id)
        seam = PART_SEAM.transformed(position_mm, Rotation.from_quat(quat))
        return seam.start_mm, seam.end_mm

    def part_ids(self) -> tuple[str, ...]:
        """Ids of the parts in the cell, in spawn order."""
        return tuple(self._parts)

    def remove_part(self, part_id: str) -> None:
        """Delete a part from the world and the registry."""
        part = self._part(part_id)
        pb.removeBody(part.body_id, physicsClientId=self._client)
        del self._parts[part_id]
        del self._bodies[part_id]

    # -- internals ------------------------------------------------------------------------
    def _part(self, part_id: str) -> _Part:
        try:
            return self._parts[part_id]
        except KeyError:
            raise KeyError(f"no part {part_id!r}; parts: {list(self._parts)}") from None

    def _checked_joints(self, q_rad: ArrayLike, name: str) -> list[float]:
        """`q_rad` as a list of floats; raise ValueError unless it is one finite value per joint within limits."""
        q = [float(v) for v in np.ravel(q_rad)]
        if len(q) != len(self._limits) or np.ndim(q_rad) != 1:
            raise ValueError(f"{name} must hold {len(self._limits)} joint positions in rad, got {q_rad!r}")
        for joint, v, (lo, hi) in zip(self.joint_names, q, self._limits, strict=True):
            if not lo <= v <= hi:  # also rejects NaN
                raise ValueError(f"{name}: joint {joint} = {v!r} rad outside [{lo:.4f}, {hi:.4f}] rad")
        return q

    def _read_joints(self) -> list[float]:
        states = pb.getJointStates(self._robot, self._joint_indices, physicsClientId=self._client)
        return [s[0] for s in states]

    def _write_joints(self, q_rad: Sequence[float]) -> None:
        pb.resetJointStatesMultiDof(
            self._robot, self._joint_indices, [[v] for v in q_rad], physicsClientId=self._client
        )

    def _wrapped_into_limits(self, q_rad: Sequence[float]) -> list[float]:
        """Shift each joint outside its limits by the fewest turns (2 pi) that bring it inside, where possible."""
        wrapped = []
        for v, (lo, hi) in zip(q_rad, self._limits, strict=True):
            if v < lo:
                shifted = v + FULL_TURN_RAD * math.ceil((lo - v) / FULL_TURN_RAD)
            elif v > hi:
                shifted = v - FULL_TURN_RAD * math.ceil((v - hi) / FULL_TURN_RAD)
            else:
                shifted = v
            wrapped.append(shifted if lo <= shifted <= hi else v)
        return wrapped

    def _place(self, body_id: int, pose: PlanarPose) -> None:
        pb.resetBasePositionAndOrientation(
            body_id,
            [v * M_PER_MM for v in pose.position_mm],
            pb.getQuaternionFromEuler((0.0, 0.0, pose.yaw_rad)),
            physicsClientId=self._client,
        )

    def _box_shapes(self, boxes: tuple[Box, ...], rgba: RGBA) -> tuple[int, int]:
        """(collision, visual) shape ids of a compound of boxes given in mm."""
        half_extents = [[s * M_PER_MM / 2.0 for s in b.size_mm] for b in boxes]
        centers = [[c * M_PER_MM for c in b.center_mm] for b in boxes]
        collision = pb.createCollisionShapeArray(
            [pb.GEOM_BOX] * len(boxes),
            halfExtents=half_extents,
            collisionFramePositions=centers,
            physicsClientId=self._client,
        )
        visual = pb.createVisualShapeArray(
            [pb.GEOM_BOX] * len(boxes),
            halfExtents=half_extents,
            visualFramePositions=centers,
            rgbaColors=[list(rgba)] * len(boxes),
            physicsClientId=self._client,
        )
        return collision, visual

    def _create_body(self, shapes: tuple[int, int]) -> int:
        """A static (mass 0) body from (collision, visual) shape ids."""
        collision, visual = shapes
        body: int = pb.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=collision,
            baseVisualShapeIndex=visual,
            physicsClientId=self._client,
        )
        return body
