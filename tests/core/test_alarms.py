"""The cell's alarms (core/alarms.py): ISA-18.2 states, acknowledgement, floods, and which conditions are alarms."""
from __future__ import annotations

import pytest

from cell_controller.core.alarms import (
    FLOOD_ALARMS, FLOOD_WINDOW_S, AlarmBook, AlarmError, AlarmState, Condition, Priority, conditions, event_detail,
    event_values,
)
from cell_controller.core.types import DeviceState, DeviceStatus

DOOR = Condition("robot.safety", Priority.HIGH, "robot safety chain open: protective_stop")


def test_an_alarm_is_raised_acknowledged_and_cleared_into_the_history() -> None:
    book = AlarmBook()
    [raised] = book.update([DOOR], 10.0)
    assert (raised.what, raised.alarm.state, raised.alarm.raised_at) == ("raised", AlarmState.UNACKNOWLEDGED, 10.0)
    assert book.update([DOOR], 11.0) == []  # still active: nothing new
    acknowledged = book.acknowledge("robot.safety", "olga", 12.0)
    assert (acknowledged.alarm.state, acknowledged.alarm.acknowledged_by) == (AlarmState.ACKNOWLEDGED, "olga")
    with pytest.raises(AlarmError, match="acknowledged by olga already"):
        book.acknowledge("robot.safety", "victor", 12.5)
    [cleared] = book.update([], 13.0)
    assert (cleared.what, cleared.alarm.state, cleared.alarm.cleared_at) == ("cleared", AlarmState.CLEARED, 13.0)
    assert book.alarms == {} and book.history[0].acknowledged_at == 12.0


def test_an_alarm_that_clears_unacknowledged_stays_until_acknowledged() -> None:
    book = AlarmBook()
    book.update([DOOR], 1.0)
    [cleared] = book.update([], 2.0)
    assert cleared.alarm.state is AlarmState.CLEARED_UNACKNOWLEDGED and "robot.safety" in book.alarms
    book.acknowledge("robot.safety", "olga", 3.0)
    assert book.alarms == {} and book.history[0].state is AlarmState.CLEARED


def test_a_condition_that_returns_before_acknowledgement_is_raised_again_and_counted() -> None:
    book = AlarmBook()
    book.update([DOOR], 1.0)
    book.update([], 2.0)
    [again] = book.update([DOOR], 3.0)
    assert (again.what, again.alarm.state, again.alarm.raised_at) == ("raised", AlarmState.UNACKNOWLEDGED, 3.0)
    assert book.raised_within(3.0) == 2


def test_nothing_to_acknowledge_is_refused() -> None:
    with pytest.raises(AlarmError, match="no alarm 'robot.safety' is active"):
        AlarmBook().acknowledge("robot.safety", "olga", 1.0)


def test_a_flood_is_more_than_ten_alarms_in_ten_minutes() -> None:
    book = AlarmBook()
    for i in range(FLOOD_ALARMS):
        book.update([Condition(f"cell.a{k}", Priority.LOW, "") for k in range(i + 1)], float(i))
    assert not book.flood(20.0) and book.raised_within(20.0) == FLOOD_ALARMS
    book.update([Condition(f"cell.a{i}", Priority.LOW, "") for i in range(FLOOD_ALARMS + 1)], 30.0)
    assert book.flood(30.0) and book.raised_within(30.0) == FLOOD_ALARMS + 1
    assert not book.flood(FLOOD_WINDOW_S + 10.0)  # the first ten left the window


def _status(state: DeviceState, **values: str) -> DeviceStatus:
    return DeviceStatus("robot", state, "", "detail", values)


def tags(state: dict[str, str], statuses: dict, alive: bool = True) -> list[str]:
    return [c.tag for c in conditions(state, statuses, alive)]


def test_the_conditions_of_the_devices_and_the_cell() -> None:
    assert tags({"state": "Execute"}, {"robot": _status(DeviceState.BUSY, safety="ok")}) == []
    assert tags({}, {"robot": None}, alive=False) == ["supervisor.gone", "robot.offline"]
    assert tags({}, {"robot": _status(DeviceState.FAULT, watchdog="tripped", safety="emergency_stop")}) == \
        ["robot.fault", "robot.watchdog", "robot.safety"]
    # an offline device's last safety value is not news; its being offline is
    assert tags({}, {"robot": _status(DeviceState.OFFLINE, safety="emergency_stop")}) == ["robot.offline"]
    assert tags({"state": "Held", "stop_reason_code": "6", "stop_reason": "clamp not done in 10 s"}, {}) == \
        ["cell.step_timeout"]
    assert tags({"state": "Execute", "stop_reason_code": "6"}, {}) == []  # back in Execute: gone
    assert tags({"state": "Held", "stop_reason_code": "1", "stop_reason": "hold by olga"}, {}) == []  # no alarm
    assert tags({"state": "Suspended", "starved": "1", "warning": "feeder: jam"}, {}) == ["cell.starved",
                                                                                         "cell.warning"]
    assert tags({"state": "Held", "stop_reason_code": "not a number"}, {}) == []


def test_a_new_text_updates_the_alarm_without_raising_it_again() -> None:
    book = AlarmBook()
    book.update([Condition("welder.fault", Priority.HIGH, "welder fault: wire stuck")], 1.0)
    [updated] = book.update([Condition("welder.fault", Priority.HIGH, "welder fault: wire stuck, tip hot")], 2.0)
    assert (updated.what, updated.alarm.text, updated.alarm.raised_at) == ("updated", "welder fault: wire stuck, tip hot",
                                                                        1.0)
    assert book.raised_within(2.0) == 1


def test_an_alarm_event_reads_back_as_the_journal_event_and_nothing_else_does() -> None:
    book = AlarmBook()
    [raised] = book.update([DOOR], 1.0)
    assert event_detail(event_values(raised)) == ("hmi", f"raised robot.safety: {DOOR.text}")
    assert event_detail(event_values(book.acknowledge("robot.safety", "olga", 2.0)))[0] == "olga"
    assert event_detail({"what": "raised", "tag": "robot.safety", "text": "x", "user": "olga"}) is None  # raised by?
    assert event_detail({"what": "updated", "tag": "robot.safety", "text": "x"}) is None  # not journaled
    assert event_detail({"what": "cleared", "tag": "mallory.x", "text": "x"}) is None  # no such source
