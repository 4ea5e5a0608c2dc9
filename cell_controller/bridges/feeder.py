"""Conveyor, buffer and fixture PLC <-> core types."""
from __future__ import annotations

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.opcua.address_space import FEEDER_ROOT as F

from .base import DeviceMapping, Snapshot

#: a jam is the feeder busy clearing its belt (its handling waits), not a fault that holds the cell
STATES = {"Idle": DeviceState.IDLE, "Feeding": DeviceState.BUSY, "Transferring": DeviceState.BUSY,
          "Jammed": DeviceState.BUSY, "Fault": DeviceState.FAULT}


class FeederMapping(DeviceMapping):
    role = "feeder"
    commands = {verb: f"{F}/MethodSet/{method}" for verb, method in {
        "release_blank": "ReleaseBlank", "feed_part": "FeedPart", "clamp": "Clamp", "unclamp": "Unclamp",
        "transfer_to_machine": "TransferToMachine", "release": "Release", "reject_part": "RejectPart"}.items()}
    conveyor_speed = f"{F}/Conveyor/SpeedSetpoint"
    swap_agree = ("fixture_part", "clamped")

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state_name = snapshot.get(f"{F}/State")
        part_id = snapshot.get(f"{F}/Fixture/PartId")
        return DeviceStatus(self.role, STATES[state_name], part_id, state_name, {
            "fixture_part": part_id,
            "clamped": "1" if snapshot.get(f"{F}/Fixture/Clamped") else "0",
            "buffer_count": str(snapshot.get(f"{F}/Buffer/Count")),
            "buffer_capacity": str(snapshot.get(f"{F}/Buffer/Capacity")),
            "outfeed_count": str(snapshot.get(f"{F}/Outfeed/Count")),
            "jam_count": str(snapshot.get(f"{F}/JamCount")),
            "jammed": "1" if state_name == "Jammed" else "0",
            "conveyor_speed_mm_s": repr(snapshot.get(f"{F}/Conveyor/Speed")),
            "time_since_release_s": repr(snapshot.get(f"{F}/Infeed/TimeSinceRelease")),
            "blanks_released": str(snapshot.get(f"{F}/Infeed/BlanksReleased")),
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        })
