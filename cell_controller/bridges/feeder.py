"""Conveyor, buffer and fixture PLC <-> core types."""
from __future__ import annotations

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.opcua.address_space import (
    FEEDER_FAULT, FEEDER_FEEDING, FEEDER_IDLE, FEEDER_JAMMED, FEEDER_TRANSFERRING, FeederPaths,
)

from .base import DeviceMapping, Snapshot

#: a jam is the feeder busy clearing its belt (its handling waits), not a fault that holds the cell
STATES = {FEEDER_IDLE: DeviceState.IDLE, FEEDER_FEEDING: DeviceState.BUSY, FEEDER_TRANSFERRING: DeviceState.BUSY,
          FEEDER_JAMMED: DeviceState.BUSY, FEEDER_FAULT: DeviceState.FAULT}


class FeederMapping(DeviceMapping):
    role = "feeder"
    commands = {
        "release_blank": FeederPaths.RELEASE_BLANK, "feed_part": FeederPaths.FEED_PART, "clamp": FeederPaths.CLAMP,
        "unclamp": FeederPaths.UNCLAMP, "transfer_to_machine": FeederPaths.TRANSFER_TO_MACHINE,
        "release": FeederPaths.RELEASE, "reject_part": FeederPaths.REJECT_PART}
    conveyor_speed = FeederPaths.CONVEYOR_SPEED_SETPOINT
    swap_agree = ("fixture_part", "clamped")

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state_name = snapshot.get(FeederPaths.STATE)
        part_id = snapshot.get(FeederPaths.FIXTURE_PART_ID)
        return DeviceStatus(self.role, STATES[state_name], part_id, state_name, {
            "fixture_part": part_id,
            "clamped": "1" if snapshot.get(FeederPaths.FIXTURE_CLAMPED) else "0",
            "buffer_count": str(snapshot.get(FeederPaths.BUFFER_COUNT)),
            "buffer_capacity": str(snapshot.get(FeederPaths.BUFFER_CAPACITY)),
            "outfeed_count": str(snapshot.get(FeederPaths.OUTFEED_COUNT)),
            "jam_count": str(snapshot.get(FeederPaths.JAM_COUNT)),
            "jammed": "1" if state_name == FEEDER_JAMMED else "0",
            "conveyor_speed_mm_s": repr(snapshot.get(FeederPaths.CONVEYOR_SPEED)),
            "time_since_release_s": repr(snapshot.get(FeederPaths.TIME_SINCE_RELEASE)),
            "blanks_released": str(snapshot.get(FeederPaths.BLANKS_RELEASED)),
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        })
