"""Robot controller (OPC 40010 Robotics) <-> core types."""
from __future__ import annotations

import math

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.opcua.address_space import ROBOT_AXES, ROBOT_MOTION as MD, ROBOT_SAFETY as SAFETY
from cell_controller.opcua.address_space import ROBOT_TASK as TASK, ROBOT_WELD as WELD

from .base import DeviceMapping, Snapshot

AXES = range(1, ROBOT_AXES + 1)
JOINT_NAMES = tuple(f"axis_{n}" for n in AXES)

#: ExecutionState -> (coarse state, sequence state)
STATES = {
    "Idle": (DeviceState.IDLE, "idle"),
    "Running": (DeviceState.BUSY, "running"),
    "Completed": (DeviceState.DONE, "done"),
    "Stopped": (DeviceState.IDLE, "idle"),
    "Fault": (DeviceState.FAULT, "fault"),
}


class RobotMapping(DeviceMapping):
    role = "robot"
    commands = {"start_program": f"{TASK}/MethodSet/StartProgram", "stop_program": f"{TASK}/MethodSet/StopProgram"}
    travel_speed = f"{WELD}/TravelSpeedSetpoint"
    torch_offset = f"{WELD}/TorchOffsetSetpoint"
    execution_state = f"{TASK}/ParameterSet/ExecutionState"
    tracker_paths = (f"{WELD}/SeamTracker/Gap", f"{WELD}/SeamTracker/SeamOffset", f"{WELD}/WeldProgress",
                     f"{WELD}/TravelSpeedSetpoint")
    joint_paths = tuple(f"{MD}/Axes/Axis_{n}/ParameterSet/{name}" for n in AXES for name in ("ActualPosition", "ActualSpeed"))
    pose_paths = tuple(f"{MD}/ParameterSet/TcpPosition{a}" for a in "XYZ") + \
        tuple(f"{MD}/ParameterSet/TcpOrientationQ{a}" for a in "xyzw")

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state, sequence_state = STATES[snapshot.get(self.execution_state)]
        safety = "emergency_stop" if snapshot.get(f"{SAFETY}/EmergencyStop") else \
            "protective_stop" if snapshot.get(f"{SAFETY}/ProtectiveStop") else "ok"
        part_id = snapshot.get(f"{WELD}/PartId")
        return DeviceStatus(self.role, state, part_id, detail=sequence_state, values={
            "execution": sequence_state,
            "program": snapshot.get(f"{TASK}/ParameterSet/TaskProgramName"),
            "progress": f"{snapshot.get(f'{WELD}/WeldProgress'):.3f}",
            "safety": safety,
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        })

    @staticmethod
    def joints(snapshot: Snapshot) -> tuple[list[float], list[float]]:
        """Axis positions (rad) and velocities (rad/s), axis 1..6."""
        position = [math.radians(snapshot.get(f"{MD}/Axes/Axis_{n}/ParameterSet/ActualPosition")) for n in AXES]
        velocity = [math.radians(snapshot.get(f"{MD}/Axes/Axis_{n}/ParameterSet/ActualSpeed")) for n in AXES]
        return position, velocity

    @staticmethod
    def tcp_pose(snapshot: Snapshot) -> tuple[list[float], list[float]]:
        """TCP position (m) and orientation quaternion (x, y, z, w) in the robot base frame."""
        position = [snapshot.get(f"{MD}/ParameterSet/TcpPosition{a}") / 1000.0 for a in "XYZ"]
        orientation = [snapshot.get(f"{MD}/ParameterSet/TcpOrientationQ{a}") for a in "xyzw"]
        return position, orientation

    @staticmethod
    def tracker(snapshot: Snapshot) -> tuple[float, ...]:
        """gap_mm, seam_offset_mm, progress, travel_speed_mm_s, stamp_s (topics.SEAM_TRACKER)."""
        return (*(snapshot.get(p) for p in RobotMapping.tracker_paths), snapshot.stamp_s)
