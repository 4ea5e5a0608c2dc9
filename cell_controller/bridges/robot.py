"""Robot controller (OPC 40010 Robotics) <-> core types."""
from __future__ import annotations

import math

from cell_controller.core.types import DeviceState, DeviceStatus

from .base import DeviceMapping, Snapshot

MD = "MotionDeviceSystem/MotionDevices/MotionDevice_1"
TASK = "MotionDeviceSystem/Controllers/Controller_1/TaskControls/TaskControl_1"
WELD = "MotionDeviceSystem/WeldProcess"
SAFETY = "MotionDeviceSystem/SafetyStates/SafetyState_1/ParameterSet"
AXES = range(1, 7)
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

    def status(self, snapshot: Snapshot) -> DeviceStatus:
        offline = self.guard(snapshot)
        if offline:
            return offline
        state, sequence_state = STATES[snapshot.get(self.execution_state)]
        if snapshot.get(f"{SAFETY}/EmergencyStop") or snapshot.get(f"{SAFETY}/ProtectiveStop"):
            state, sequence_state = DeviceState.FAULT, "fault"
        part_id = snapshot.get(f"{WELD}/PartId")
        return DeviceStatus(self.role, state, part_id, detail=sequence_state, values={
            "execution": sequence_state,
            "program": snapshot.get(f"{TASK}/ParameterSet/TaskProgramName"),
            "progress": f"{snapshot.get(f'{WELD}/WeldProgress'):.3f}",
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
        return (snapshot.get(f"{WELD}/SeamTracker/Gap"), snapshot.get(f"{WELD}/SeamTracker/SeamOffset"),
                snapshot.get(f"{WELD}/WeldProgress"), snapshot.get(f"{WELD}/TravelSpeedSetpoint"), snapshot.stamp_s)
