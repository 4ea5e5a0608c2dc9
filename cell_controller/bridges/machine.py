"""Press or CNC (OPC 40501 Machine Tools / 40503 Metal Forming) <-> core types."""
from __future__ import annotations

from cell_controller.core.types import SAFETY_OK, DeviceState, DeviceStatus
from cell_controller.opcua.address_space import (
    MACHINE_ENDED, MACHINE_FAULT, MACHINE_IDLE, MACHINE_RUNNING, MachinePaths,
)

from .base import DeviceMapping, Snapshot

#: MachineState -> (coarse state, sequence state)
STATES = {
    MACHINE_IDLE: (DeviceState.IDLE, "idle"),
    MACHINE_RUNNING: (DeviceState.BUSY, "running"),
    MACHINE_ENDED: (DeviceState.DONE, "ended"),
    MACHINE_FAULT: (DeviceState.FAULT, "fault"),
}


class MachineMapping(DeviceMapping):
    role = "machine"
    commands = {"start_cycle": MachinePaths.START_CYCLE}

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state, sequence_state = STATES[snapshot.get(MachinePaths.MACHINE_STATE)]
        safety = "emergency_stop" if snapshot.get(MachinePaths.EMERGENCY_STOP) else \
            "door_open" if snapshot.get(MachinePaths.DOOR_OPEN) else SAFETY_OK
        part_id = snapshot.get(MachinePaths.PROGRAM_PART_ID)
        return DeviceStatus(self.role, state, part_id, sequence_state, {
            "cycle": sequence_state,
            "mode": snapshot.get(MachinePaths.OPERATION_MODE),
            "safety": safety,
            "program_state": snapshot.get(MachinePaths.PROGRAM_STATE) or "",
            "cycle_time_s": repr(snapshot.get(MachinePaths.PROGRAM_CYCLE_TIME)),
            "parts_completed": str(snapshot.get(MachinePaths.PARTS_COMPLETED)),
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        })
