"""Press or CNC (OPC 40501 Machine Tools / 40503 Metal Forming) <-> core types."""
from __future__ import annotations

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.opcua.address_space import MACHINE_PROGRAM as PROGRAM, MACHINE_ROOT as M

from .base import DeviceMapping, Snapshot

#: MachineState -> (coarse state, sequence state)
STATES = {
    "Idle": (DeviceState.IDLE, "idle"),
    "Running": (DeviceState.BUSY, "running"),
    "Ended": (DeviceState.DONE, "ended"),
    "Fault": (DeviceState.FAULT, "fault"),
}


class MachineMapping(DeviceMapping):
    role = "machine"
    commands = {"start_cycle": f"{M}/MethodSet/StartCycle"}

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state, sequence_state = STATES[snapshot.get(f"{M}/Monitoring/MachineState")]
        safety = "emergency_stop" if snapshot.get(f"{M}/Safety/EmergencyStop") else \
            "door_open" if snapshot.get(f"{M}/Safety/DoorOpen") else "ok"
        part_id = snapshot.get(f"{PROGRAM}/PartId")
        return DeviceStatus(self.role, state, part_id, sequence_state, {
            "cycle": sequence_state,
            "mode": snapshot.get(f"{M}/Monitoring/OperationMode"),
            "safety": safety,
            "program_state": snapshot.get(f"{PROGRAM}/State") or "",
            "cycle_time_s": repr(snapshot.get(f"{PROGRAM}/CycleTime")),
            "parts_completed": str(snapshot.get(f"{M}/Production/PartsCompleted")),
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        })
