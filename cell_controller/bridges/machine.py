"""Press or CNC (OPC 40501 Machine Tools / 40503 Metal Forming) <-> core types."""
from __future__ import annotations

from cell_controller.core.types import DeviceState, DeviceStatus

from .base import DeviceMapping, Snapshot

PROGRAM = "Machine/Production/ActiveProgram"
#: MachineState -> (coarse state, sequence state)
STATES = {
    "Idle": (DeviceState.IDLE, "idle"),
    "Running": (DeviceState.BUSY, "running"),
    "Ended": (DeviceState.DONE, "ended"),
    "Fault": (DeviceState.FAULT, "fault"),
}


class MachineMapping(DeviceMapping):
    role = "machine"
    commands = {"start_cycle": "Machine/MethodSet/StartCycle"}

    def status(self, snapshot: Snapshot) -> DeviceStatus:
        offline = self.guard(snapshot)
        if offline:
            return offline
        state, sequence_state = STATES[snapshot.get("Machine/Monitoring/MachineState")]
        part_id = snapshot.get(f"{PROGRAM}/PartId")
        return DeviceStatus(self.role, state, part_id, sequence_state, {
            "cycle": sequence_state,
            "program_state": snapshot.get(f"{PROGRAM}/State") or "",
            "cycle_time_s": repr(snapshot.get(f"{PROGRAM}/CycleTime")),
            "parts_completed": str(snapshot.get("Machine/Production/PartsCompleted")),
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        })
