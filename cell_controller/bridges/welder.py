"""Arc-welding power source (modelled on OPC 40450 Joining Systems) <-> core types."""
from __future__ import annotations

from cell_controller.core.types import DeviceState, DeviceStatus, WeldResult
from cell_controller.opcua.address_space import WELDER_FAULT, WELDER_IDLE, WELDER_WELDING, WelderPaths

from .base import DeviceMapping, Snapshot

STATES = {WELDER_IDLE: DeviceState.IDLE, WELDER_WELDING: DeviceState.BUSY, WELDER_FAULT: DeviceState.FAULT}


class WelderMapping(DeviceMapping):
    role = "welder"
    voltage = WelderPaths.VOLTAGE_SETPOINT
    wire_feed = WelderPaths.WIRE_FEED_SPEED_SETPOINT
    gas_flow = WelderPaths.GAS_FLOW_SETPOINT
    process_paths = (WelderPaths.ACTUAL_CURRENT, WelderPaths.ACTUAL_VOLTAGE, WelderPaths.ACTUAL_WIRE_FEED_SPEED,
                     WelderPaths.ACTUAL_ARC_POWER, WelderPaths.ACTUAL_POOL_WIDTH, WelderPaths.ACTUAL_ARC_ON)

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state = STATES[snapshot.get(WelderPaths.STATE)]
        values = {
            "arc_on": "1" if snapshot.get(WelderPaths.ACTUAL_ARC_ON) else "0",
            "result_counter": str(snapshot.get(WelderPaths.RESULT_COUNTER)),
            "stamp_s": f"{snapshot.stamp_s:.6f}",
        }
        result = self.last_result(snapshot)
        if result is not None:
            values.update({
                "last_part_id": result.part_id,
                "arc_energy_kJ": repr(result.arc_energy_kJ), "weld_time_s": repr(result.weld_time_s),
                "mean_current_A": repr(result.mean_current_A), "mean_voltage_V": repr(result.mean_voltage_V),
                "mean_wire_feed_m_min": repr(result.mean_wire_feed_m_min),
                "mean_travel_speed_mm_s": repr(result.mean_travel_speed_mm_s),
                "bead_width_mm": repr(result.bead_width_mm), "penetration_mm": repr(result.penetration_mm),
                "imperfections": ",".join(result.imperfections), "iso5817_level": result.iso5817_level,
            })
        return DeviceStatus(self.role, state, snapshot.get(WelderPaths.RESULT_PART_ID) or "", state.value, values)

    @staticmethod
    def last_result(snapshot: Snapshot) -> WeldResult | None:
        """The last weld's result, None before the first weld."""
        if not snapshot.get(WelderPaths.RESULT_COUNTER):
            return None
        imperfections = snapshot.get(WelderPaths.RESULT_IMPERFECTIONS)
        return WeldResult(
            part_id=snapshot.get(WelderPaths.RESULT_PART_ID),
            arc_energy_kJ=snapshot.get(WelderPaths.RESULT_ARC_ENERGY),
            weld_time_s=snapshot.get(WelderPaths.RESULT_WELD_TIME),
            mean_current_A=snapshot.get(WelderPaths.RESULT_MEAN_CURRENT),
            mean_voltage_V=snapshot.get(WelderPaths.RESULT_MEAN_VOLTAGE),
            mean_wire_feed_m_min=snapshot.get(WelderPaths.RESULT_MEAN_WIRE_FEED_SPEED),
            mean_travel_speed_mm_s=snapshot.get(WelderPaths.RESULT_MEAN_TRAVEL_SPEED),
            bead_width_mm=snapshot.get(WelderPaths.RESULT_BEAD_WIDTH),
            penetration_mm=snapshot.get(WelderPaths.RESULT_PENETRATION),
            imperfections=tuple(imperfections.split(",")) if imperfections else (),
            iso5817_level=snapshot.get(WelderPaths.RESULT_QUALITY_LEVEL),
        )

    @staticmethod
    def process(snapshot: Snapshot) -> tuple[float, ...]:
        """current_A, voltage_V, wire_feed_m_min, arc_power_W, pool_width_mm, arc_on, stamp_s."""
        *analog, arc_on = (snapshot.get(p) for p in WelderMapping.process_paths)
        return (*analog, float(bool(arc_on)), snapshot.stamp_s)
