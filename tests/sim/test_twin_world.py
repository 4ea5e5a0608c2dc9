"""CellWorld: robot model vs the KR 6 R900 sixx datasheet, butt-joint part, IK along the seam, part flow, lifetime."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Iterator

import numpy as np
import pybullet as pb
import pytest
from scipy.spatial.transform import Rotation

from cell_controller.sim.physics.joint import JOINT_VARIATION, generate_joint
from cell_controller.sim.twin import CellWorld, UnreachablePoseError
from cell_controller.sim.twin.layout import CONVEYOR_START_MM, FIXTURE_POSE, MACHINE_POSE, OUTFEED_POSE
from cell_controller.sim.twin.world import ROBOT_URDF

# KUKA KR 6 R900 sixx datasheet: axis ranges (deg), speeds (deg/s), reach to the wrist point (mm).
DATASHEET_RANGES_DEG = [(-170, 170), (-190, 45), (-120, 156), (-185, 185), (-120, 120), (-350, 350)]
DATASHEET_SPEEDS_DEG_S = [360, 300, 360, 381, 388, 615]
DATASHEET_REACH_MM = 901.5
SEAM_POINTS = 50
IK_POSITION_TOL_MM = 0.5
IK_ORIENTATION_TOL_DEG = 2.0


@pytest.fixture
def world() -> Iterator[CellWorld]:
    with CellWorld(seed=7) as w:
        yield w


def link_index(world: CellWorld, link_name: str) -> int:
    robot, client = world.body_id("robot"), world.client_id
    return next(
        i
        for i in range(pb.getNumJoints(robot, physicsClientId=client))
        if pb.getJointInfo(robot, i, physicsClientId=client)[12].decode() == link_name
    )


def link_position_mm(world: CellWorld, link: int) -> np.ndarray:
    state = pb.getLinkState(world.body_id("robot"), link, computeForwardKinematics=1, physicsClientId=world.client_id)
    return np.array(state[4]) * 1e3


def angle_deg(quat_a: np.ndarray, quat_b: np.ndarray) -> float:
    return math.degrees((Rotation.from_quat(quat_a) * Rotation.from_quat(quat_b).inv()).magnitude())


# -- robot model -------------------------------------------------------------------------
def test_urdf_has_six_limited_revolute_joints() -> None:
    client = pb.connect(pb.DIRECT)
    try:
        robot = pb.loadURDF(str(ROBOT_URDF), useFixedBase=True, physicsClientId=client)
        infos = [
            pb.getJointInfo(robot, i, physicsClientId=client)
            for i in range(pb.getNumJoints(robot, physicsClientId=client))
        ]
    finally:
        pb.disconnect(client)
    movable = [i for i in infos if i[2] != pb.JOINT_FIXED]
    assert [i[2] for i in movable] == [pb.JOINT_REVOLUTE] * 6
    for info, (lo_deg, hi_deg), speed_deg_s in zip(movable, DATASHEET_RANGES_DEG, DATASHEET_SPEEDS_DEG_S, strict=True):
        assert math.degrees(info[8]) == pytest.approx(lo_deg, abs=1e-4)
        assert math.degrees(info[9]) == pytest.approx(hi_deg, abs=1e-4)
        assert math.degrees(info[11]) == pytest.approx(speed_deg_s, abs=1e-4)


def test_world_reports_datasheet_limits(world: CellWorld) -> None:
    lower, upper = world.joint_limits_rad()
    assert world.joint_names == ("a1", "a2", "a3", "a4", "a5", "a6")
    np.testing.assert_allclose(np.degrees(np.column_stack((lower, upper))), DATASHEET_RANGES_DEG, atol=1e-4)
    np.testing.assert_allclose(np.degrees(world.joint_speed_limits_rad_s()), DATASHEET_SPEEDS_DEG_S, atol=1e-4)


def test_zero_pose_matches_dimension_drawing(world: CellWorld) -> None:
    """At all-zero joints the arm is stretched along x: wrist point at 25+455+420 mm, 400+35 mm high."""
    world.set_joint_positions_rad(np.zeros(6))
    np.testing.assert_allclose(link_position_mm(world, link_index(world, "link_5")), [900.0, 0.0, 435.0], atol=0.01)
    np.testing.assert_allclose(link_position_mm(world, link_index(world, "tool0")), [980.0, 0.0, 435.0], atol=0.01)
    # Torch: TCP 116.7 mm off-axis and 316.7 mm out from the flange (tool0 z = cell x here, tool0 x = cell -z).
    tcp_mm, _ = world.tcp_pose_mm()
    np.testing.assert_allclose(tcp_mm, [980.0 + 316.67, 0.0, 435.0 - 116.67], atol=0.05)


def test_max_reach_matches_datasheet(world: CellWorld) -> None:
    """Largest distance of the wrist point from the A1 axis over the A2/A3 ranges is the published reach."""
    lower, upper = world.joint_limits_rad()
    wrist = link_index(world, "link_5")
    reach_mm = 0.0
    for a2 in np.linspace(lower[1], upper[1], 80):
        for a3 in np.linspace(lower[2], upper[2], 80):
            world.set_joint_positions_rad([0.0, a2, a3, 0.0, 0.0, 0.0])
            reach_mm = max(reach_mm, float(np.linalg.norm(link_position_mm(world, wrist)[:2])))
    assert reach_mm == pytest.approx(DATASHEET_REACH_MM, rel=0.02)


# -- IK along the programmed seam --------------------------------------------------------
def test_ik_follows_the_whole_seam(world: CellWorld) -> None:
    world.set_joint_positions_rad(world.approach_pose_rad())
    orientation = world.torch_orientation_xyzw()
    previous = world.joint_positions_rad()
    elapsed_s = 0.0
    for s_mm in np.linspace(0.0, world.seam_length_mm, SEAM_POINTS):
        target_mm = world.seam_point_mm(s_mm)
        start = time.perf_counter()
        q = world.solve_ik_rad(target_mm, orientation)
        elapsed_s += time.perf_counter() - start
        world.set_joint_positions_rad(q)
        reached_mm, reached_quat = world.tcp_pose_mm()
        assert np.linalg.norm(reached_mm - target_mm) < IK_POSITION_TOL_MM
        assert angle_deg(reached_quat, orientation) < IK_ORIENTATION_TOL_DEG
        assert np.max(np.abs(q - previous)) < math.radians(10.0), "configuration flip along the seam"
        previous = q
    print(f"\nIK: {elapsed_s / SEAM_POINTS * 1e6:.1f} us per call over {SEAM_POINTS} seam points")


def test_ik_leaves_the_robot_where_it_was(world: CellWorld) -> None:
    before = world.joint_positions_rad()
    world.solve_ik_rad(world.seam_point_mm(0.0), world.torch_orientation_xyzw())
    np.testing.assert_array_equal(world.joint_positions_rad(), before)


def test_ik_raises_for_an_unreachable_pose(world: CellWorld) -> None:
    with pytest.raises(UnreachablePoseError, match="unreachable"):
        world.solve_ik_rad([2000.0, 0.0, 0.0], world.torch_orientation_xyzw())


@pytest.mark.parametrize(("lateral_mm", "height_mm"), [(3.0, 0.0), (-3.0, 0.0), (0.0, 2.0), (1.5, -1.0)])
def test_offsets_move_the_tcp_by_the_requested_mm(world: CellWorld, lateral_mm: float, height_mm: float) -> None:
    start_mm, end_mm = world.seam_path_mm()
    travel = (end_mm - start_mm) / world.seam_length_mm
    normal = np.array([0.0, 0.0, 1.0])  # the plates lie flat on the fixture
    left = np.cross(normal, travel)
    orientation = world.torch_orientation_xyzw()
    s_mm = world.seam_length_mm / 2.0
    world.set_joint_positions_rad(world.solve_ik_rad(world.seam_point_mm(s_mm), orientation, world.approach_pose_rad()))
    nominal_mm, _ = world.tcp_pose_mm()
    world.set_joint_positions_rad(world.solve_ik_rad(world.seam_point_mm(s_mm, lateral_mm, height_mm), orientation))
    moved_mm, _ = world.tcp_pose_mm()
    np.testing.assert_allclose(moved_mm - nominal_mm, lateral_mm * left + height_mm * normal, atol=0.05)


def test_positive_lateral_offset_is_left_of_travel(world: CellWorld) -> None:
    start_mm, end_mm = world.seam_path_mm()
    offset = world.seam_point_mm(0.0, lateral_offset_mm=1.0) - start_mm
    up = world.seam_point_mm(0.0, height_offset_mm=1.0) - start_mm
    assert np.dot(np.cross(end_mm - start_mm, offset), up) > 0
    assert offset[2] == pytest.approx(0.0, abs=1e-12), "lateral offsets stay in the plate plane"
    np.testing.assert_allclose(up, [0.0, 0.0, 1.0], atol=1e-12)


def test_torch_angles_on_the_fixture_seam(world: CellWorld) -> None:
    start_mm, end_mm = world.seam_path_mm()
    travel = (end_mm - start_mm) / world.seam_length_mm
    wire = Rotation.from_quat(world.torch_orientation_xyzw()).apply([0.0, 0.0, 1.0])
    assert math.degrees(math.asin(np.dot(wire, travel))) == pytest.approx(10.0, abs=1e-6)  # push
    across = wire - np.dot(wire, travel) * travel
    # work angle: the wire, seen along travel, points straight down into the joint (normal to the plates)
    assert math.degrees(math.atan2(-across[2], np.linalg.norm(across[:2]))) == pytest.approx(90.0, abs=1e-6)
    reverse = Rotation.from_quat(world.torch_orientation_xyzw(-travel)).apply([0.0, 0.0, 1.0])
    assert np.dot(reverse, -travel) == pytest.approx(math.sin(math.radians(10.0)))


# -- part geometry ---------------------------------------------------------------------------
def ray_hit_z_mm(world: CellWorld, body: int, xy_mm: np.ndarray) -> float | None:
    """z (mm) where a vertical ray from 100 mm down to -100 mm first hits `body`, None if it misses."""
    hits = pb.rayTestBatch(
        [[xy_mm[0] * 1e-3, xy_mm[1] * 1e-3, 0.1]],
        [[xy_mm[0] * 1e-3, xy_mm[1] * 1e-3, -0.1]],
        physicsClientId=world.client_id,
    )
    uid, _, _, position, _ = hits[0]
    return position[2] * 1e3 if uid == body else None


def test_part_is_a_butt_joint_matching_the_weld_model() -> None:
    """Two flat plates of the weld model's thickness, the nominal root gap between them, the seam on top of it."""
    thickness_mm = inspect.signature(generate_joint).parameters["nominal_thickness_mm"].default
    length_mm = inspect.signature(generate_joint).parameters["length_mm"].default
    gap_mm = JOINT_VARIATION["gap_mean_mm"]
    with CellWorld(fixture_tolerance_mm=0.0) as world:
        world.spawn_part("P")
        world.move_part("P", "fixture")
        part = world.body_id("P")
        assert world.seam_length_mm == pytest.approx(length_mm)
        for s_mm in np.linspace(1.0, world.seam_length_mm - 1.0, 7):
            # both plates carry the seam's top face, the gap is open to the fixture below
            for side in (1.0, -1.0):
                for lateral_mm in (gap_mm / 2.0 + 0.1, gap_mm / 2.0 + 90.0):
                    point_mm = world.seam_point_mm(s_mm, side * lateral_mm)
                    # (Bullet's collision margin sinks the hit by ~0.01 mm)
                    assert ray_hit_z_mm(world, part, point_mm) == pytest.approx(thickness_mm, abs=0.05)
                    assert point_mm[2] == pytest.approx(thickness_mm, abs=1e-9)
                assert ray_hit_z_mm(world, part, world.seam_point_mm(s_mm, side * (gap_mm / 2.0 - 0.1))) is None
        # the plates end with the seam
        start_mm, end_mm = world.seam_path_mm()
        travel = (end_mm - start_mm) / world.seam_length_mm
        for outside_mm in (start_mm - travel, end_mm + travel):
            left = np.cross([0.0, 0.0, 1.0], travel)
            assert ray_hit_z_mm(world, part, outside_mm + 5.0 * left) is None


# -- motion -------------------------------------------------------------------------------
def test_move_joints_towards_respects_speed_limits(world: CellWorld) -> None:
    dt_s = 0.012
    speed_rad_s = world.joint_speed_limits_rad_s()
    target = world.approach_pose_rad()
    expected_steps = math.ceil(np.max(np.abs(target - world.joint_positions_rad()) / speed_rad_s) / dt_s)
    steps, arrived = 0, False
    while not arrived:
        before = world.joint_positions_rad()
        arrived = world.move_joints_towards(target, dt_s)
        assert np.all(np.abs(world.joint_positions_rad() - before) <= speed_rad_s * dt_s + 1e-12)
        steps += 1
    assert steps == expected_steps
    np.testing.assert_allclose(world.joint_positions_rad(), target, atol=1e-12)
    assert world.move_joints_towards(target, dt_s)


def test_joint_targets_outside_limits_are_rejected(world: CellWorld) -> None:
    with pytest.raises(ValueError, match="a2"):
        world.set_joint_positions_rad([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="dt_s"):
        world.move_joints_towards(world.home_rad, 0.0)


# -- parts ----------------------------------------------------------------------------------
def test_parts_flow_conveyor_fixture_machine_out(world: CellWorld) -> None:
    world.spawn_part("P1")
    assert world.part_station("P1") == "conveyor"
    assert world.body_id("P1") not in (world.body_id(n) for n in ("robot", "fixture", "conveyor"))
    np.testing.assert_allclose(world.part_pose_mm("P1")[0], CONVEYOR_START_MM, atol=1e-3)
    world.set_part_on_conveyor("P1", world.conveyor_length_mm)
    np.testing.assert_allclose(world.part_pose_mm("P1")[0], [700.0, 600.0, 0.0], atol=1e-3)

    world.move_part("P1", "fixture")
    assert world.part_station("P1") == "fixture"
    np.testing.assert_allclose(world.part_pose_mm("P1")[0], FIXTURE_POSE.position_mm, atol=0.5 + 1e-3)
    for actual, programmed in zip(world.part_seam_path_mm("P1"), world.seam_path_mm(), strict=True):
        np.testing.assert_allclose(actual, programmed, atol=0.5 + 1e-3)

    world.spawn_part("P2")
    with pytest.raises(ValueError, match="holds part 'P1'"):
        world.move_part("P2", "fixture")
    world.move_part("P1", "machine")
    world.move_part("P2", "fixture")
    np.testing.assert_allclose(world.part_pose_mm("P1")[0], MACHINE_POSE.position_mm, atol=1e-3)
    world.move_part("P1", "out")
    world.move_part("P2", "machine")
    world.move_part("P2", "out")
    assert [world.part_station(p) for p in world.part_ids()] == ["out", "out"]
    np.testing.assert_allclose(world.part_pose_mm("P2")[0], OUTFEED_POSE.position_mm, atol=1e-3)

    world.remove_part("P1")
    assert world.part_ids() == ("P2",)
    with pytest.raises(KeyError, match="P1"):
        world.body_id("P1")


def test_part_errors_name_the_offender(world: CellWorld) -> None:
    world.spawn_part("P1")
    with pytest.raises(ValueError, match="P1"):
        world.spawn_part("P1")
    with pytest.raises(ValueError, match="robot"):
        world.spawn_part("robot")
    with pytest.raises(ValueError, match="station"):
        world.move_part("P1", "paint_shop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="s_mm"):
        world.set_part_on_conveyor("P1", world.conveyor_length_mm + 1.0)
    with pytest.raises(KeyError, match="nope"):
        world.part_station("nope")


def test_fixture_clamping_error_is_seeded() -> None:
    def clamped_seam(seed: int, tolerance_mm: float) -> np.ndarray:
        with CellWorld(seed=seed, fixture_tolerance_mm=tolerance_mm) as w:
            w.spawn_part("P")
            w.move_part("P", "fixture")
            return np.concatenate(w.part_seam_path_mm("P"))

    np.testing.assert_array_equal(clamped_seam(3, 0.5), clamped_seam(3, 0.5))
    assert not np.array_equal(clamped_seam(3, 0.5), clamped_seam(4, 0.5))
    with CellWorld() as w:
        np.testing.assert_allclose(clamped_seam(3, 0.0), np.concatenate(w.seam_path_mm()), atol=1e-3)


# -- lifetime ------------------------------------------------------------------------------
def test_worlds_close_without_leaking_clients() -> None:
    client_ids = []
    for _ in range(20):
        with CellWorld() as w:
            client_ids.append(w.client_id)
        assert pb.getConnectionInfo(client_ids[-1])["isConnected"] == 0
        w.close()  # idempotent
    assert len(set(client_ids)) == 1, "client slots are not released"
