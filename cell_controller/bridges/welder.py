"""Arc-welding power source (modelled on OPC 40450 Joining Systems) <-> core types."""
from __future__ import annotations

from cell_controller.core.types import DeviceState, DeviceStatus, WeldResult
from cell_controller.opcua.address_space import WELDER_ROOT as JS

from .base import DeviceMapping, Snapshot

ACTUAL = f"{JS}/ActualValues"
RESULT = f"{JS}/Results/LastResult"
STATES = {"Idle": DeviceState.IDLE, "Welding": DeviceState.BUSY, "Fault": DeviceState.FAULT}


class WelderMapping(DeviceMapping):
    role = "welder"
    voltage = f"{JS}/ProcessParameters/VoltageSetpoint"
    wire_feed = f"{JS}/ProcessParameters/WireFeedSpeedSetpoint"
    gas_flow = f"{JS}/ProcessParameters/GasFlowSetpoint"
    process_paths = (f"{ACTUAL}/Current", f"{ACTUAL}/Voltage", f"{ACTUAL}/WireFeedSpeed", f"{ACTUAL}/ArcPower",
                     f"{ACTUAL}/PoolWidth", f"{ACTUAL}/ArcOn")

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        state = STATES[snapshot.get(f"{JS}/State")]
        values = {
            "arc_on": "1" if snapshot.get(f"{ACTUAL}/ArcOn") else "0",
            "result_counter": str(snapshot.get(f"{RESULT}/ResultCounter")),
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
        return DeviceStatus(self.role, state, snapshot.get(f"{RESULT}/PartId") or "", state.value, values)

    @staticmethod
    def last_result(snapshot: Snapshot) -> WeldResult | None:
        """The last weld's result, None before the first weld."""
        if not snapshot.get(f"{RESULT}/ResultCounter"):
            return None
        imperfections = snapshot.get(f"{RESULT}/Imperfections")
        return WeldResult(
            part_id=snapshot.get(f"{RESULT}/PartId"),
            arc_energy_kJ=snapshot.get(f"{RESULT}/ArcEnergy"),
            weld_time_s=snapshot.get(f"{RESULT}/WeldTime"),
            mean_current_A=snapshot.get(f"{RESULT}/MeanCurrent"),
            mean_voltage_V=snapshot.get(f"{RESULT}/MeanVoltage"),
            mean_wire_feed_m_min=snapshot.get(f"{RESULT}/MeanWireFeedSpeed"),
            mean_travel_speed_mm_s=snapshot.get(f"{RESULT}/MeanTravelSpeed"),
            bead_width_mm=snapshot.get(f"{RESULT}/BeadWidth"),
            penetration_mm=snapshot.get(f"{RESULT}/Penetration"),
            imperfections=tuple(imperfections.split(",")) if imperfections else (),
            iso5817_level=snapshot.get(f"{RESULT}/QualityLevel"),
        )

    @staticmethod
    def process(snapshot: Snapshot) -> tuple[float, ...]:
        """current_A, voltage_V, wire_feed_m_min, arc_power_W, pool_width_mm, arc_on, stamp_s."""
        *analog, arc_on = (snapshot.get(p) for p in WelderMapping.process_paths)
        return (*analog, float(bool(arc_on)), snapshot.stamp_s)
