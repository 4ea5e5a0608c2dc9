"""The supervisor node against simulated devices on an in-memory bus: every PackML command in every
phase of the part sequence, faults, retries, watchdogs, restarts and a journal that cannot write."""
from __future__ import annotations

from pathlib import Path

import pytest

from cell_controller.core.journal import Outcome
from cell_controller.core.packml import State, StopCode
from cell_controller.nodes import topics
from cell_controller.nodes.codec import Codec
from cell_controller.nodes import supervisor as supervisor_module

from harness import Harness, sim_config

#: the steps in which a command can arrive ("cycle": the machine presses; its start is instantaneous)
PHASES = ("feed", "clamp", "weld", "unclamp", "release", "transfer", "cycle")


@pytest.fixture
def config(tmp_path: Path):
    return sim_config(tmp_path)


def test_a_shift_runs_to_complete_and_state_counts_what_the_journal_holds(config) -> None:
    cell = Harness(config, parts=3)
    cell.run_to(State.COMPLETE)
    records = cell.journal.parts()
    assert [r.part_id for r in records] == ["P000001", "P000002", "P000003"]
    assert all(r.outcome in (Outcome.GOOD, Outcome.DEFECTIVE) for r in records)
    assert cell.journal.summary(1).status == "complete"
    cell.check_journal_matches_state()
    assert cell.state["parts_done"] == "3" and cell.state["state_number"] == "17"
    assert cell.states[-5:] == ["Idle", "Starting", "Execute", "Completing", "Complete"]
    # one goal per step: nothing was executed twice
    executed = [(verb, args) for b in cell.world.bridges.values() for _, verb, args in b.executed]
    assert executed.count(("start_program", ("weld_seam", "P000002"))) == 1
    assert sum(1 for verb, _ in executed if verb == "feed_part") == 3
    # the journal's step log: every part's steps start and end once, in the sequence's order, on the cell clock
    steps = cell.journal.step_log(1)
    for part_id in ("P000001", "P000002", "P000003"):
        mine = [(e.step, e.edge) for e in steps if e.part_id == part_id]
        assert mine[:6] == [("feed", "start"), ("feed", "done"), ("clamp", "start"), ("clamp", "done"),
                            ("weld", "start"), ("weld", "done")], mine
        assert mine.count(("press", "start")) == 1 and mine[-1] == ("release", "done")
    assert all(e.cell_time_s is not None for e in steps)
    assert [e.cell_time_s for e in steps] == sorted(e.cell_time_s for e in steps)
    # the first part's cycle starts with the shift, as every later part's starts where the previous one left
    (execute,) = [c for c in cell.journal.state_log(1) if c.new == "Execute"]
    cycles = [r.cycle_time_s for r in records]
    first_feed = next(e for e in steps if e.step == "feed" and e.edge == "start")
    assert execute.cell_time_s is not None and first_feed.cell_time_s >= execute.cell_time_s
    assert all(c > 0 for c in cycles)
    assert sum(cycles) == pytest.approx(steps[-1].cell_time_s - execute.cell_time_s, abs=0.5)


@pytest.mark.parametrize("phase", PHASES)
def test_hold_and_unhold_in_every_phase_lose_no_part_and_double_no_step(config, phase: str) -> None:
    cell = Harness(config, parts=3)
    assert cell.run_until(lambda: cell.step_is(phase) and cell.sup.production.produced >= (phase == "feed")
                          and (phase != "weld" or cell.world.cell.arc_on))
    answer = cell.command("hold id=h1 user=alice")
    assert answer["command_id"] == "h1" and answer["command_result"] == "accepted"
    cell.run_to(State.HELD, 30)
    assert cell.state["stop_reason"] == "hold by alice" and cell.state["stop_reason_code"] == str(StopCode.OPERATOR.value)
    assert cell.world.cell.robot_exec != "running" and not cell.world.cell.arc_on, "the arc goes off in Holding"
    held_at = cell.bus.time_s
    cell.bus.advance(200.0)  # a long Hold: no step may time out because of it
    assert cell.packml is State.HELD and cell.bus.time_s - held_at >= 200
    cell.command("unhold")
    cell.run_to(State.COMPLETE)
    records = cell.records()
    produced = [p for p, o in records.items() if o in (Outcome.GOOD, Outcome.DEFECTIVE)]
    assert len(produced) == 3
    scrapped = [p for p, o in records.items() if o is Outcome.SCRAPPED]
    assert len(scrapped) == (1 if phase == "weld" else 0)
    # every part that entered left, once; every weld started once per part
    assert sorted(cell.world.cell.left) == sorted(records)
    assert len(cell.world.cell.welded) == len(set(cell.world.cell.welded))
    assert cell.journal.open_parts() == []
    cell.check_journal_matches_state()


def test_hold_during_the_weld_scraps_that_part_and_records_why(config) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.world.cell.robot_progress > 0.3)
    part = cell.world.cell.robot_part
    cell.command("hold")
    cell.run_to(State.HELD, 10)
    assert cell.state["parts_in_cell"] == f"{part}:interrupted"
    cell.command("unhold")
    cell.run_to(State.COMPLETE)
    (record,) = [r for r in cell.journal.parts() if r.part_id == part]
    assert record.outcome is Outcome.SCRAPPED and "weld stopped at" in record.reason
    assert record.arc_energy_kJ is None and record.cycle_time_s is None
    assert part in cell.world.cell.left


def test_a_hold_before_the_arc_starts_welds_the_part_after_unhold(config) -> None:
    cell = Harness(config, parts=1)
    assert cell.run_until(lambda: cell.world.cell.robot_exec == "running")
    cell.command("hold")
    cell.run_to(State.HELD, 10)
    assert cell.world.cell.welded == []
    cell.command("unhold")
    cell.run_to(State.COMPLETE)
    assert list(cell.records().values()) in ([Outcome.GOOD], [Outcome.DEFECTIVE])


@pytest.mark.parametrize("phase", PHASES)
def test_suspend_finishes_the_step_under_way_then_waits_and_unsuspend_resumes(config, phase: str) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.step_is(phase))
    welding = phase == "weld"
    cell.command("suspend")
    cell.run_to(State.SUSPENDED, 60)
    if welding:  # the weld in progress was finished, not stopped
        assert cell.world.cell.robot_exec == "done" and cell.world.cell.welder_last_part == cell.world.cell.robot_part
    executed = sum(len(b.executed) for b in cell.world.bridges.values())
    cell.bus.advance(120.0)
    assert cell.packml is State.SUSPENDED
    assert sum(len(b.executed) for b in cell.world.bridges.values()) == executed, "nothing new starts while suspended"
    cell.command("unsuspend")
    cell.run_to(State.COMPLETE)
    assert Outcome.SCRAPPED not in cell.records().values()


@pytest.mark.parametrize("phase", PHASES)
def test_stop_in_every_phase_closes_the_shift_and_reset_takes_the_parts_out(config, phase: str) -> None:
    cell = Harness(config, parts=3)
    assert cell.run_until(lambda: cell.step_is(phase) and cell.sup.production.produced >= 1)
    cell.command("stop")
    cell.run_to(State.STOPPED, 60)
    assert not cell.world.cell.arc_on
    assert cell.journal.summary(1).status == "stopped"
    in_cell = cell.journal.open_parts()
    cell.command("reset")
    cell.run_to(State.IDLE, 120)
    assert not cell.world.cell.fixture_part and not cell.world.cell.machine_part
    records = cell.records()
    assert all(records[p.part_id] in (Outcome.INTERRUPTED, Outcome.SCRAPPED) for p in in_cell)
    assert cell.journal.open_parts() == []
    cell.command("start")
    cell.run_to(State.COMPLETE)
    assert cell.journal.summary(2).status == "complete"
    assert len(set(cell.records())) == len(cell.journal.parts())  # ids never reused


@pytest.mark.parametrize("phase", PHASES)
def test_abort_stops_the_arc_at_once_and_clear_then_reset_recover(config, phase: str) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.step_is(phase))
    cell.command("abort")
    cell.bus.advance(0.2)
    assert cell.packml is State.ABORTED and not cell.world.cell.arc_on
    assert cell.journal.summary(1).status == "aborted"
    for text in ("reset", "start", "unhold"):
        assert cell.command(text)["command_result"] == "refused"
    cell.command("clear")
    cell.run_to(State.STOPPED, 10)
    cell.command("reset")
    cell.run_to(State.IDLE, 120)
    assert cell.journal.open_parts() == []
    cell.command("start")
    cell.run_to(State.COMPLETE)


def test_clear_waits_for_every_device_and_gives_up_with_the_reason(config, monkeypatch) -> None:
    monkeypatch.setattr(supervisor_module, "DEVICES_READY_TIMEOUT_S", 5.0)
    cell = Harness(config, parts=1)
    cell.run_to(State.EXECUTE)
    cell.world.cell.faults["machine"].fault = True
    cell.world.publish_all()
    cell.bus.advance(0.1)
    assert cell.packml in (State.HOLDING, State.HELD) and "machine fault" in cell.state["stop_reason"]
    cell.command("abort")
    cell.bus.advance(0.1)
    cell.command("clear")
    cell.bus.advance(1.0)
    assert cell.packml is State.CLEARING
    cell.bus.advance(5.0)
    assert cell.packml is State.ABORTED and "clear: machine fault" in cell.state["stop_reason"]
    cell.world.cell.faults["machine"].fault = False
    cell.world.publish_all()
    cell.command("clear")
    cell.run_to(State.STOPPED, 5)


def test_a_device_going_offline_holds_the_cell_within_100_ms_with_the_device_in_the_reason(config) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.step_is("weld"))
    cell.world.cell.faults["welder"].stale = True
    cell.world.bridges["welder"].publish()
    cell.bus.advance(0.1)
    assert cell.packml in (State.HOLDING, State.HELD)
    assert cell.state["stop_reason_code"] == str(StopCode.DEVICE_OFFLINE.value)
    assert cell.state["stop_reason"].startswith("welder stale")
    refused = cell.command("unhold")
    assert refused["command_result"] == "refused" and "welder stale" in refused["command_reason"]
    cell.world.cell.faults["welder"].stale = False
    cell.world.bridges["welder"].publish()
    cell.bus.advance(0.1)
    too_soon = cell.command("unhold")  # a link just back may flap: the devices must be steady first
    assert too_soon["command_result"] == "refused" and "steady" in too_soon["command_reason"]
    cell.bus.advance(supervisor_module.DEVICES_STEADY_S)
    assert cell.command("unhold")["command_result"] != "refused"
    cell.run_to(State.COMPLETE)


def test_a_killed_bridge_is_noticed_by_liveliness_and_holds_the_cell(config) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.step_is("weld"))
    cell.world.kill_bridge("robot")
    cell.bus.advance(0.05)
    assert cell.packml in (State.HOLDING, State.HELD)
    assert "robot: its bridge is gone" in cell.state["stop_reason"]


def test_a_refused_command_is_retried_a_bounded_number_of_times_then_holds_with_the_reason(config) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.step_is("clamp"))
    cell.world.cell.faults["feeder"].reject = 100
    cell.run_to(State.HELD, 60)
    refused = [e for b in cell.world.bridges.values() for e in b.executed if e[1] == "clamp"]
    assert cell.world.cell.faults["feeder"].reject >= 100 - 3
    assert 100 - cell.world.cell.faults["feeder"].reject <= 3
    assert cell.state["stop_reason_code"] == str(StopCode.COMMAND_REFUSED.value)
    assert "refused by the feeder 3 times: NotReady: injected refusal" in cell.state["stop_reason"]
    assert len(refused) >= 1
    cell.world.cell.faults["feeder"].reject = 0
    cell.command("unhold")
    cell.run_to(State.COMPLETE)


def test_a_starved_cell_suspends_itself_and_resumes_when_blanks_come(config) -> None:
    cell = Harness(config, parts=3)
    cell.world.cell.supply = False  # the two blanks in the buffer make two parts, the third waits
    cell.run_to(State.SUSPENDED, 300)
    assert cell.sup.production.produced == 2
    assert cell.state["stop_reason_code"] == str(StopCode.STARVED.value) and cell.state["starved"] == "1"
    cell.world.cell.supply = True
    cell.run_to(State.EXECUTE, 30)
    cell.run_to(State.COMPLETE)


def test_a_blocked_machine_suspends_the_cell_until_it_takes_parts_again(config) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.step_is("weld"))
    cell.world.cell.machine_mode = "Setup"
    cell.world.publish_all()
    cell.run_to(State.SUSPENDED, 120)
    assert cell.state["stop_reason_code"] == str(StopCode.BLOCKED.value) and cell.state["blocked"] == "1"
    cell.world.cell.machine_mode = "Automatic"
    cell.world.publish_all()
    cell.run_to(State.COMPLETE)


def test_an_open_safety_chain_aborts_from_any_state_and_clear_waits_for_it(config) -> None:
    cell = Harness(config, parts=2)
    assert cell.run_until(lambda: cell.step_is("weld"))
    cell.world.cell.faults["robot"].safety = "emergency_stop"
    cell.world.bridges["robot"].publish()
    cell.bus.advance(0.05)
    assert cell.packml is State.ABORTED and cell.state["stop_reason"] == "robot safety chain: emergency_stop"
    cell.command("clear")
    cell.bus.advance(2.0)
    assert cell.packml is State.CLEARING
    cell.world.cell.faults["robot"].safety = "ok"
    cell.world.bridges["robot"].publish()
    cell.run_to(State.STOPPED, 5)


def test_unit_modes_change_only_at_rest_and_maintenance_takes_device_commands(config) -> None:
    cell = Harness(config, parts=1, auto_start=False)
    cell.bus.advance(1.0)
    assert cell.command("mode maintenance")["command_result"] == "accepted"
    assert cell.state["unit_mode"] == "Maintenance" and cell.state["unit_mode_number"] == "2"
    assert cell.command("mode sideways")["command_reason"].startswith("unknown unit mode 'sideways'")
    cell.command("reset")
    cell.run_to(State.IDLE, 30)
    cell.command("start")
    cell.run_to(State.EXECUTE, 5)
    assert cell.command("mode production")["command_result"] == "refused"
    assert cell.command("suspend")["command_reason"] == \
        "suspend is not allowed in unit mode Maintenance (it has no Suspending state)"
    assert cell.command("device robot fly")["command_reason"].startswith("the robot has no command 'fly'")
    assert cell.command("device feeder clamp")["command_result"] == "accepted"
    cell.bus.advance(0.1)
    assert cell.state["device_command"] == "feeder clamp" and cell.state["device_command_result"].startswith("NotReady")
    cell.bus.advance(60.0)
    assert cell.packml is State.EXECUTE and cell.journal.parts() == [], "Maintenance produces nothing"
    cell.command("stop")
    cell.run_to(State.STOPPED, 10)
    assert cell.command("mode manual")["command_result"] == "accepted"
    cell.command("reset")
    cell.run_to(State.IDLE, 10)
    cell.command("start")
    cell.run_to(State.EXECUTE, 5)
    assert cell.command("hold")["command_reason"] == "hold is not allowed in unit mode Manual (it has no Holding state)"


def test_bad_commands_are_refused_with_the_reason_on_state_and_change_nothing(config) -> None:
    cell = Harness(config, parts=1, auto_start=False)
    cell.bus.advance(0.5)
    for text, reason in [("fly", "unknown command 'fly'"), ("", "empty command"), ("hold", "hold is not allowed in state Stopped"),
                         ("start now", "start takes no arguments"), ("reset x=1", "unknown option 'x'"),
                         ("a" * 300, "command of 300 characters"), ("hold\x00", "printable ASCII")]:
        answer = cell.command(text)
        assert answer["command_result"] == "refused" and reason in answer["command_reason"], (text, answer)
        assert cell.packml is State.STOPPED
    assert len(answer["command"]) <= 80


def test_a_flood_of_commands_does_not_flood_the_journal(config) -> None:
    cell = Harness(config, parts=1, auto_start=False)
    cell.bus.advance(0.5)
    writes_before = cell.journal._db.total_changes
    for i in range(2000):
        cell._command.publish(cell.codec.string(f"hold id={i}"))
    cell.bus.advance(1.0)
    events = [e for e in cell.journal._db.execute("SELECT kind, detail FROM events WHERE kind='command'")]
    assert len(events) <= 2 * supervisor_module.COMMAND_EVENTS_PER_S
    assert cell.state["command_id"] == "1999" and cell.state["command_result"] == "refused"
    assert cell.journal._db.total_changes - writes_before < 100


def _fill_disk(cell: Harness) -> None:
    db = cell.journal._db
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")


def test_a_full_disk_holds_the_cell_before_the_next_part_and_unhold_resumes_without_losing_it(config) -> None:
    cell = Harness(config, parts=3)
    assert cell.run_until(lambda: cell.sup.production.produced == 1)
    _fill_disk(cell)
    for i in range(200):  # the journal has a little room left: fill it
        cell.journal.log_event(None, "info", "filler", "x" * 400)
    cell.run_to(State.HELD, 120)
    assert cell.state["stop_reason_code"] == str(StopCode.JOURNAL.value)
    assert "full" in cell.state["stop_reason"]
    counted = int(cell.state["good"]) + int(cell.state["defective"])
    stored = len(cell.journal.parts())
    assert counted == stored, "nothing is counted that was not stored"
    feeds = sum(1 for b in cell.world.bridges.values() for _, verb, _ in b.executed if verb == "feed_part")
    cell.bus.advance(60.0)
    assert sum(1 for b in cell.world.bridges.values() for _, verb, _ in b.executed if verb == "feed_part") == feeds
    refused = cell.command("unhold")
    assert refused["command_result"] == "refused" and "journal still cannot write" in refused["command_reason"]
    cell.journal._db.execute("PRAGMA max_page_count=1073741823")  # space comes back
    assert cell.command("unhold")["command_result"] == "accepted"
    cell.run_to(State.COMPLETE)
    records = cell.journal.parts()
    produced = [r for r in records if r.outcome in (Outcome.GOOD, Outcome.DEFECTIVE)]
    assert len(produced) == 3 and cell.journal.open_parts() == []
    cell.check_journal_matches_state()


def test_a_restarted_supervisor_starts_aborted_records_what_the_cell_holds_and_never_produces_around_it(
        config) -> None:
    cell = Harness(config, parts=3)
    assert cell.run_until(lambda: cell.sup.production.produced == 1 and cell.world.cell.arc_on)
    held = {cell.world.cell.fixture_part, cell.world.cell.machine_part} - {""}
    cell.node.kill()  # kill -9: no Stop, no closing of the shift
    cell.journal._db.close()
    cell.bus.advance(2.0)
    restarted = Harness(config, parts=3, bus=cell.bus, world=cell.world)
    restarted.bus.advance(2.0)
    assert restarted.packml is State.ABORTED
    assert restarted.state["stop_reason_code"] == str(StopCode.RESTARTED.value)
    assert restarted.journal.summary(1).status == "interrupted"
    records = restarted.records()
    assert held <= set(records) and all(records[p] is Outcome.INTERRUPTED for p in held)
    assert restarted.journal.open_parts() == []
    restarted.bus.advance(30.0)
    assert restarted.packml is State.ABORTED, "no auto start after a crash"
    assert {p.part_id for p in restarted.sup.production.in_cell} == held
    restarted.command("clear")
    restarted.run_to(State.STOPPED, 10)
    restarted.command("reset")
    restarted.run_to(State.IDLE, 300)
    assert not restarted.world.cell.fixture_part and not restarted.world.cell.machine_part
    restarted.command("start")
    restarted.run_to(State.COMPLETE)
    ids = [r.part_id for r in restarted.journal.parts()]
    assert len(ids) == len(set(ids)) and restarted.journal.summary(2).good + restarted.journal.summary(2).defective == 3


def test_rogue_and_garbage_inspections_change_no_verdict_and_flood_no_log(config, caplog) -> None:
    cell = Harness(config, parts=3)
    rogue = cell.bus.node("rogue", config.namespace)
    publisher = topics.publisher(rogue, topics.WELD_INSPECTION)
    codec = Codec(rogue)
    cell.run_until(lambda: cell.sup.production.in_cell, 60)
    for i in range(300):  # for no part, huge, and one claiming the part under the torch is fine with a made-up level
        publisher.publish(codec.status("inspection", "", 0, {"part_id": f"P{i:0999d}", "status": "known"}))
    publisher.publish(codec.status("inspection", "P000001", 0, {"part_id": "P000001", "status": "known",
                                                               "level": "A+", "p_worse_than_c": "0.0"}))
    with caplog.at_level("WARNING"):
        cell.run_to(State.COMPLETE)
    for record in cell.journal.parts():  # the simulated welder grades its welds: its word decides
        device = cell.journal.judgements(record.part_id)[0]
        assert device.source == "device" and record.outcome.value == device.verdict
    assert all(j.status == "unknown" for j in cell.journal.judgements("P000001")[1:])
    assert cell.sup.inspections_ignored == 300
    assert sum("inspections ignored" in r.getMessage() for r in caplog.records) <= 3


def test_alarm_events_are_journaled_with_who_acknowledged_and_rogue_ones_are_not(config, caplog) -> None:
    from cell_controller.core.alarms import AlarmBook, Condition, Priority, event_values

    cell = Harness(config, parts=1)
    hmi = cell.bus.node("hmi", config.namespace)
    publisher, codec = topics.publisher(hmi, topics.ALARM_EVENTS), Codec(hmi)
    cell.run_until(lambda: cell.sup.production.shift_id is not None, 60)
    book = AlarmBook()
    [raised] = book.update([Condition("robot.safety", Priority.HIGH, "robot safety chain open: protective_stop")], 1.0)
    acknowledged = book.acknowledge("robot.safety", "olga", 2.0)
    for change in (raised, acknowledged):
        publisher.publish(codec.status("hmi", change.what, 0, event_values(change)))
    for rogue in ({"what": "raised", "tag": "robot.safety'; --", "text": "x"},  # not a tag
                  {"what": "deleted", "tag": "robot.safety", "text": "x"},  # not a change
                  {"what": "acknowledged", "tag": "robot.safety", "text": "x"},  # by nobody
                  {"what": "raised", "tag": "robot.safety", "text": "x" * 400}):  # too long
        publisher.publish(codec.status("hmi", "x", 0, rogue))
    with caplog.at_level("WARNING"):
        cell.run_to(State.COMPLETE)
    alarms = [(source, detail) for _, _, kind, source, detail, _ in cell.journal.event_rows() if kind == "alarm"]
    assert alarms == [("hmi", "raised robot.safety: robot safety chain open: protective_stop"),
                      ("olga", "acknowledged robot.safety: robot safety chain open: protective_stop")]
    assert cell.sup.alarm_events_ignored == 4
    assert sum("alarm events not journaled" in r.getMessage() for r in caplog.records) == 1
