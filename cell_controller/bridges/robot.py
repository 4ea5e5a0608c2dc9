"""Robot controller (OPC 40010 Robotics) <-> core types."""
from __future__ import annotations

import math

from cell_controller.core.types import SAFETY_OK, DeviceState, DeviceStatus
from cell_controller.opcua.address_space import (
    EXECUTION_COMPLETED, EXECUTION_FAULT, EXECUTION_IDLE, EXECUTION_RUNNING, EXECUTION_STOPPED, ROBOT_AXES, RobotPaths,
)

from .base import DeviceMapping, Snapshot

JOINT_NAMES = tuple(f"axis_{n}" for n in range(1, ROBOT_AXES + 1))

#: ExecutionState -> (coarse state, sequence state)
STATES = {
    EXECUTION_IDLE: (DeviceState.IDLE, "idle"),
    EXECUTION_RUNNING: (DeviceState.BUSY, "running"),
    EXECUTION_COMPLETED: (DeviceState.DONE, "done"),
    EXECUTION_STOPPED: (DeviceState.IDLE, "idle"),
    EXECUTION_FAULT: (DeviceState.FAULT, "fault"),
}


class RobotMapping(DeviceMapping):
    role = "robot"
    commands = {"start_program": RobotPaths.START_PROGRAM, "stop_program": RobotPaths.STOP_PROGRAM}
    travel_speed = RobotPaths.TRAVEL_SPEED_SETPOINT
    torch_offset = RobotPaths.TORCH_OFFSET_SETPOINT
    execution_state = RobotPaths.EXECUTION_STATE
    tracker_paths = (RobotPaths.TRACKER_GAP, RobotPaths.TRACKER_SEAM_OFFSET, RobotPaths.WELD_PROGRESS,
                     RobotPaths.TRAVEL_SPEED_SETPOINT)
    joint_paths = tuple(path for axis in zip(RobotPaths.AXIS_POSITIONS, RobotPaths.AXIS_SPEEDS) for path in axis)
    pose_paths = RobotPaths.TCP_POSITION + RobotPaths.TCP_ORIENTATION

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state, sequence_state = STATES[snapshot.get(self.execution_state)]
        safety = "emergency_stop" if snapshot.get(RobotPaths.EMERGENCY_STOP) else \
            "protective_stop" if snapshot.get(RobotPaths.PROTECTIVE_STOP) else SAFETY_OK
        part_id = snapshot.get(RobotPaths.PART_ID)
        return DeviceStatus(self.role, state, part_id, detail=sequence_state, values={
            "execution": sequence_state,
            "program": snapshot.get(RobotPaths.PROGRAM_NAME),
            "progress": f"{snapshot.get(RobotPaths.WELD_PROGRESS):.3f}",
            "safety": safety,
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        })

    @staticmethod
    def joints(snapshot: Snapshot) -> tuple[list[float], list[float]]:
        """Axis positions (rad) and velocities (rad/s), axis 1..6."""
        position = [math.radians(snapshot.get(path)) for path in RobotPaths.AXIS_POSITIONS]
        velocity = [math.radians(snapshot.get(path)) for path in RobotPaths.AXIS_SPEEDS]
        return position, velocity

    @staticmethod
    def tcp_pose(snapshot: Snapshot) -> tuple[list[float], list[float]]:
        """TCP position (m) and orientation quaternion (x, y, z, w) in the robot base frame."""
        position = [snapshot.get(path) / 1000.0 for path in RobotPaths.TCP_POSITION]
        orientation = [snapshot.get(path) for path in RobotPaths.TCP_ORIENTATION]
        return position, orientation

    @staticmethod
    def tracker(snapshot: Snapshot) -> tuple[float, ...]:
        """gap_mm, seam_offset_mm, progress, travel_speed_mm_s, stamp_s (topics.SEAM_TRACKER)."""
        return (*(snapshot.get(p) for p in RobotMapping.tracker_paths), snapshot.stamp_s)
