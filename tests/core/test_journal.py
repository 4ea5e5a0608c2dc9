"""The production journal: durable settings, exact round trips, correct summaries, and crash safety.

The crash test kills a writer process with SIGKILL at random points and checks that every
record it acknowledged is present and that no partial record exists.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cell_controller.core.journal import (
    MAX_EVENT_DETAIL_CHARS, MAX_PENDING_EVENTS, SCHEMA_VERSION, CostLine, Journal, JournalError, Judgement, OpenPart,
    Outcome, PartRecord, StateChange, VerdictRefused, _parts_table, state_detail,
)


def part(part_id: str, shift_id: int, **overrides: object) -> PartRecord:
    values: dict[str, object] = dict(
        part_id=part_id, shift_id=shift_id, started_at=1_700_000_000.25, finished_at=1_700_000_041.5,
        cycle_time_s=41.25, mean_current_A=231.5, mean_voltage_V=24.1, mean_wire_feed_m_min=8.05,
        mean_travel_speed_mm_s=7.02, arc_energy_kJ=12.345, weld_time_s=28.6, bead_width_mm=6.4,
        penetration_mm=2.1, imperfections=(), iso5817_level="B", outcome=Outcome.GOOD, reason="",
        weld_policy="fixed_recipe",
        feed_policy="fixed_rate", backends={"robot": "twin", "welder": "twin"}, config_hash="abcdef0123456789",
    )
    if "good" in overrides:  # the tests say good=False for a defective part
        overrides["outcome"] = Outcome.GOOD if overrides.pop("good") else Outcome.DEFECTIVE
    values.update(overrides)
    return PartRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def journal(tmp_path: Path):
    with Journal(tmp_path / "runs" / "journal.sqlite") as j:
        yield j


OLD_SCHEMA = """
CREATE TABLE shifts (id INTEGER PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL, status TEXT NOT NULL,
    parts_target INTEGER NOT NULL, config_hash TEXT NOT NULL);
CREATE TABLE parts (part_id TEXT PRIMARY KEY, shift_id INTEGER NOT NULL REFERENCES shifts(id),
    started_at REAL NOT NULL, finished_at REAL NOT NULL, cycle_time_s REAL NOT NULL, mean_current_A REAL NOT NULL,
    mean_voltage_V REAL NOT NULL, mean_wire_feed_m_min REAL NOT NULL, mean_travel_speed_mm_s REAL NOT NULL,
    arc_energy_kJ REAL NOT NULL, weld_time_s REAL NOT NULL, bead_width_mm REAL NOT NULL, penetration_mm REAL NOT NULL,
    imperfections TEXT NOT NULL, iso5817_level TEXT NOT NULL, good INTEGER NOT NULL, weld_policy TEXT NOT NULL,
    feed_policy TEXT NOT NULL, backends TEXT NOT NULL, config_hash TEXT NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, shift_id INTEGER, at REAL NOT NULL, kind TEXT NOT NULL,
    source TEXT NOT NULL, detail TEXT NOT NULL);
"""


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


# --------------------------------------------------------------------------- settings


def test_wal_and_synchronous_full_are_really_set(journal: Journal) -> None:
    db = journal._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # WAL is persistent: an independent connection sees it too
    assert _rows(journal.path, "PRAGMA journal_mode") == [("wal",)]
    assert journal.path.parent.is_dir()  # the folder was created
    assert journal.integrity_ok()


# --------------------------------------------------------------------------- round trips


def test_record_part_round_trips_every_field(journal: Journal) -> None:
    shift = journal.begin_shift(3, "abcdef0123456789")
    a = part("P-0001", shift)
    b = part("P-0002", shift, started_at=1_700_000_050.0, imperfections=("porosity", "undercut"),
             iso5817_level="fail", good=False, backends={"robot": "real", "welder": "twin", "machine": "twin"},
             weld_policy="ppo_v1", feed_policy="fixed_rate", arc_energy_kJ=0.1 + 0.2)
    journal.record_part(a)
    journal.record_part(b)
    assert journal.parts(shift) == [a, b]
    assert journal.parts() == [a, b]
    stored = journal.parts(shift)[1]
    for f in dataclasses.fields(PartRecord):
        assert getattr(stored, f.name) == getattr(b, f.name), f.name
        assert type(getattr(stored, f.name)) is type(getattr(b, f.name)), f.name
    scrap = part("P-0003", shift, started_at=1_700_000_060.0, outcome=Outcome.SCRAPPED, reason="weld stopped at 40 % of the seam",
                 cycle_time_s=None, arc_energy_kJ=None, weld_time_s=None, iso5817_level="")
    journal.record_part(scrap)
    assert journal.parts(shift)[2] == scrap


def test_parts_filter_by_shift_and_order_by_start(journal: Journal) -> None:
    one = journal.begin_shift(2, "h")
    two = journal.begin_shift(2, "h")
    late = part("A", one, started_at=20.0)
    early = part("B", one, started_at=10.0)
    other = part("C", two)
    for record in (late, early, other):
        journal.record_part(record)
    assert journal.parts(one) == [early, late]
    assert journal.parts(two) == [other]
    assert journal.last_shift_id() == two


def test_part_ids_come_from_a_sequence_that_never_goes_back_or_skips(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        shift = j.begin_shift(5, "h")
        first, second = j.allocate_part(shift), j.allocate_part(shift)
        assert (first, second) == ("P000001", "P000002")
        j.record_part(part(first, shift))
        assert j.allocate_part(shift) == "P000003"  # a record does not use up a number
        j.record_part(part("FOREIGN-7", shift))  # a part found on a device gets its entry (a number) with its record
        assert j.open_parts() == [OpenPart("P000002", shift, pytest.approx(time.time(), abs=60)),
                                  OpenPart("P000003", shift, pytest.approx(time.time(), abs=60))]
    with Journal(path) as j:  # reopened (a restart): the sequence goes on, nothing is handed out twice
        assert j.allocate_part(None) == "P000005"
        assert [p.part_id for p in j.open_parts()] == ["P000002", "P000003", "P000005"]
        assert j.interrupted_shifts == [shift]


def test_a_journal_of_the_schema_before_part_ids_had_a_sequence_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO shifts VALUES (1, 10.0, 20.0, 'complete', 2, 'h')")
        for n, good in ((1, 1), (2, 0)):
            db.execute("INSERT INTO parts VALUES (?, 1, ?, ?, 30, 230, 24, 8, 10, 100, 20, 7, 2, '[]', ?, ?, "
                       "'fixed_recipe', 'fixed_rate', '{}', 'h')", (f"P{n:06d}", 10.0 + n, 11.0 + n,
                                                                   "B" if good else "fail", good))
    with Journal(path) as j:
        assert [(p.part_id, p.outcome) for p in j.parts()] == [("P000001", Outcome.GOOD), ("P000002", Outcome.DEFECTIVE)]
        assert j.summary(1).good == 1 and j.open_parts() == []
        assert j.allocate_part(None) == "P000003"
        assert j._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert j.integrity_ok()


def test_a_journal_of_a_newer_schema_is_refused_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError, match=f"{path}.*newer"):
        Journal(path)


def test_events_are_batched_truncated_and_bounded(journal: Journal) -> None:
    shift = journal.begin_shift(1, "h")
    changes = journal._db.total_changes
    for i in range(50):
        journal.log_event(shift, "command", "operator", f"hold {i}")
    assert journal._db.total_changes == changes, "nothing is written before a flush"
    assert journal.flush_events() == 50 and not journal.events_due
    journal.log_event(shift, "info", "x", "y" * 5000)
    (_, _, _, detail), = journal.events(shift)[-1:]
    assert len(detail) == MAX_EVENT_DETAIL_CHARS
    for i in range(MAX_PENDING_EVENTS + 10):
        journal.log_event(shift, "info", "flood", str(i))
    assert len(journal.pending_events) == MAX_PENDING_EVENTS and journal.dropped_events == 10
    journal.flush_events()
    assert journal.events(shift)[-1][3] == "10 events dropped while the journal could not write"


def test_events_are_logged_per_shift_in_order(journal: Journal) -> None:
    shift = journal.begin_shift(1, "h")
    journal.log_event(shift, "state", "supervisor", "Stopped->Resetting")
    journal.log_event(shift, "fault", "welder", "link lost")
    journal.log_event(None, "info", "cli", "no shift")
    events = journal.events(shift)
    assert [(k, s, d) for (_, k, s, d) in events] == [("state", "supervisor", "Stopped->Resetting"),
                                                      ("fault", "welder", "link lost")]
    assert events[0][0] <= events[1][0]


# --------------------------------------------------------------------------- summaries


def test_summary_from_crafted_records(journal: Journal) -> None:
    shift = journal.begin_shift(5, "h")
    other = journal.begin_shift(5, "h")
    crafted = [  # (cycle s, energy kJ, good, finished_at)
        (30.0, 10.0, True, 100.0), (40.0, 12.0, True, 140.0), (50.0, 14.0, False, 190.0), (60.0, 20.0, True, 250.0),
    ]
    for i, (cycle, energy, good, finished) in enumerate(crafted):
        journal.record_part(part(f"S-{i}", shift, cycle_time_s=cycle, arc_energy_kJ=energy, good=good,
                                 iso5817_level="B" if good else "D", started_at=finished - cycle,
                                 finished_at=finished))
    journal.record_part(part("X-1", other, cycle_time_s=999.0, arc_energy_kJ=999.0))  # not this shift
    summary = journal.summary(shift)
    assert summary.shift_id == shift and summary.status == "running" and summary.parts_target == 5
    assert (summary.parts, summary.good, summary.defective) == (4, 3, 1)
    assert summary.mean_cycle_time_s == pytest.approx(45.0)
    # all arc energy (the defective part's too) over the good parts
    assert summary.arc_energy_per_good_part_kJ == pytest.approx(56.0 / 3)
    journal.end_shift(shift, "complete")
    ended = journal.summary(shift)
    assert ended.status == "complete"
    started_at, ended_at = _rows(journal.path, f"SELECT started_at, ended_at FROM shifts WHERE id={shift}")[0]
    assert ended.total_time_s == pytest.approx(ended_at - started_at)


def test_summary_of_a_shift_without_parts(journal: Journal) -> None:
    shift = journal.begin_shift(4, "h")
    summary = journal.summary(shift)
    assert (summary.parts, summary.good, summary.defective) == (0, 0, 0)
    assert summary.mean_cycle_time_s == 0.0 and summary.arc_energy_per_good_part_kJ == 0.0
    assert summary.total_time_s == 0.0


def test_summary_without_good_parts_has_no_division_by_zero(journal: Journal) -> None:
    shift = journal.begin_shift(2, "h")
    journal.record_part(part("D-1", shift, good=False, iso5817_level="fail", arc_energy_kJ=5.0))
    summary = journal.summary(shift)
    assert (summary.good, summary.defective, summary.arc_energy_per_good_part_kJ) == (0, 1, 0.0)


def test_summary_of_an_unknown_shift_raises_journal_error(journal: Journal) -> None:
    with pytest.raises(JournalError, match="42"):
        journal.summary(42)


# --------------------------------------------------------------------------- reopen after a crash


def test_running_shift_is_marked_interrupted_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        done = j.begin_shift(2, "h")
        j.end_shift(done, "complete")
        crashed = j.begin_shift(2, "h")
        j.record_part(part("P-1", crashed))
    # the process "died" without end_shift
    before = time.time()
    with Journal(path) as j:
        assert j.summary(crashed).status == "interrupted"
        assert j.summary(done).status == "complete"
        assert j.parts(crashed) == [part("P-1", crashed)]
    ended_at = _rows(path, f"SELECT ended_at FROM shifts WHERE id={crashed}")[0][0]
    assert ended_at is not None and ended_at >= before - 1


# --------------------------------------------------------------------------- refused writes


def test_duplicate_part_id_raises_and_leaves_the_database_unchanged(journal: Journal) -> None:
    shift = journal.begin_shift(2, "h")
    first = part("P-1", shift)
    journal.record_part(first)
    journal.log_event(shift, "info", "test", "before")
    with pytest.raises(JournalError) as info:
        journal.record_part(part("P-1", shift, arc_energy_kJ=99.0, good=False))
    assert str(journal.path) in str(info.value)
    assert journal.parts() == [first]
    assert len(journal.events(shift)) == 1
    assert journal.integrity_ok()
    # the connection is still usable: no transaction was left open
    journal.record_part(part("P-2", shift))
    assert [p.part_id for p in journal.parts()] == ["P-1", "P-2"]


def test_part_of_an_unknown_shift_is_refused(journal: Journal) -> None:
    with pytest.raises(JournalError):
        journal.record_part(part("P-1", 999))
    assert journal.parts() == []


def test_full_disk_raises_and_drops_nothing_silently(journal: Journal) -> None:
    shift = journal.begin_shift(10, "h")
    kept = [part(f"P-{i}", shift) for i in range(3)]
    for record in kept:
        journal.record_part(record)
    db = journal._db
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")  # the "disk" is full now
    big = part("P-big", shift, imperfections=tuple(f"imperfection-{i}" for i in range(2000)))
    with pytest.raises(JournalError, match="full"):
        journal.record_part(big)
    with pytest.raises(JournalError):
        for i in range(200):  # events fill the last free bytes, then fail loudly too
            journal.log_event(shift, "info", "test", "x" * 500)
            journal.flush_events()
    assert journal.pending_events, "events the journal could not write stay pending"
    assert journal.parts() == kept
    assert journal.integrity_ok()
    # space comes back: the refused record can be written again; nothing was half-written
    db.execute("PRAGMA max_page_count=1073741823")
    journal.record_part(big)
    assert journal.parts() == kept + [big]
    journal.flush_events()
    assert not journal.pending_events


# --------------------------------------------------------------------------- kill -9


WRITER = r"""
import sys
from cell_controller.core.journal import Journal, PartRecord
path, prefix = sys.argv[1], sys.argv[2]
journal = Journal(path)
shift = journal.begin_shift(1_000_000, "crash-test")
print("ready", flush=True)
i = 0
while True:
    record = PartRecord(
        part_id=f"{prefix}-{i}", shift_id=shift, started_at=float(i), finished_at=float(i) + 1.0,
        cycle_time_s=30.0 + i, mean_current_A=230.0, mean_voltage_V=24.0, mean_wire_feed_m_min=8.0,
        mean_travel_speed_mm_s=7.0, arc_energy_kJ=12.0, weld_time_s=28.0, bead_width_mm=6.0,
        penetration_mm=2.0, imperfections=tuple("porosity" for _ in range(i % 50)), iso5817_level="C",
        outcome="good" if i % 7 != 0 else "defective", reason="", weld_policy="fixed_recipe", feed_policy="fixed_rate",
        backends={"robot": "twin", "welder": "twin", "pad": "x" * (i % 300)}, config_hash="crash-test")
    journal.record_part(record)
    print(record.part_id, flush=True)
    journal.log_event(shift, "info", "writer", record.part_id)
    journal.flush_events()
    i += 1
"""

NOT_NULL = ["part_id", "shift_id", "started_at", "finished_at", "cycle_time_s", "mean_current_A", "mean_voltage_V",
            "mean_wire_feed_m_min", "mean_travel_speed_mm_s", "arc_energy_kJ", "weld_time_s", "bead_width_mm",
            "penetration_mm", "imperfections", "iso5817_level", "outcome", "reason", "weld_policy", "feed_policy",
            "backends", "config_hash"]


def _crash_iterations(tmp_path: Path, iterations: int, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "crash.sqlite"
    acknowledged: set[str] = set()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for iteration in range(iterations):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"it{iteration}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
            time.sleep(rng.uniform(0.0, 0.08))
            os.kill(child.pid, signal.SIGKILL)
            out, err = child.communicate(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL, err
        # a line without its newline was not acknowledged (the kill came mid-print)
        lines = out.split("\n")
        acknowledged |= {line for line in lines[:-1] if line}
        _check_after_crash(path, acknowledged)
    assert len(acknowledged) > iterations  # the writer got to write, on the whole
    with Journal(path) as j:  # reopening marks every killed shift interrupted
        statuses = _rows(path, "SELECT status FROM shifts")
        assert statuses and all(s == "interrupted" for (s,) in statuses)
        assert j.integrity_ok()


def _check_after_crash(path: Path, acknowledged: set[str]) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute(f"SELECT {', '.join(NOT_NULL)} FROM parts").fetchall()
    stored = {row[0] for row in rows}
    missing = acknowledged - stored
    assert not missing, f"acknowledged records lost: {sorted(missing)[:5]}"
    for row in rows:
        values = dict(zip(NOT_NULL, row))
        assert all(v is not None for v in values.values()), values
        assert isinstance(json.loads(values["imperfections"]), list)
        backends = json.loads(values["backends"])
        assert isinstance(backends, dict) and backends["robot"] == "twin"
        assert values["outcome"] in ("good", "defective")
        i = int(values["part_id"].rsplit("-", 1)[1])
        assert values["cycle_time_s"] == 30.0 + i  # the row is the one the writer built, whole
        assert len(json.loads(values["imperfections"])) == i % 50


def test_kill_9_quick(tmp_path: Path) -> None:
    _crash_iterations(tmp_path, iterations=5, seed=1)


@pytest.mark.slow
def test_kill_9_at_100_random_points(tmp_path: Path) -> None:
    """Reliability check 4's figure: 100 random kill points (about 20 s)."""
    _crash_iterations(tmp_path, iterations=100, seed=2)


def test_a_reader_leaves_a_running_shift_alone(tmp_path) -> None:
    writer = Journal(tmp_path / "j.sqlite")
    shift_id = writer.begin_shift(3, "abc")
    with Journal(tmp_path / "j.sqlite", writer=False) as reader:
        assert reader.summary(shift_id).status == "running"
    assert writer.summary(shift_id).status == "running"
    writer.close()
    with Journal(tmp_path / "j.sqlite") as restarted_writer:
        assert restarted_writer.summary(shift_id).status == "interrupted"


def test_a_shadow_parts_divergence_is_stored_with_its_record_and_read_back(journal: Journal) -> None:
    shift = journal.begin_shift(1, "h")
    figures = {"JoiningSystem/ActualValues/Current [A]": (12.5, 30.0, 812), "JoiningSystem/ActualValues/Voltage [V]":
               (0.4, 1.1, 812)}
    journal.record_part(part(journal.allocate_part(shift), shift, backends={"welder": "twin>shadow"},
                             divergence={"welder": figures}))
    journal.record_part(part(journal.allocate_part(shift), shift))
    first, second = journal.parts(shift)
    assert first.divergence == {"welder": figures} and first.backends == {"welder": "twin>shadow"}
    assert second.divergence == {}


def test_a_journal_of_schema_2_gains_the_divergence_table_and_keeps_its_parts(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    with Journal(path) as j:
        shift = j.begin_shift(1, "h")
        j.record_part(part(j.allocate_part(shift), shift))
        j._db.execute("DROP TABLE divergence")
        j._db.execute("PRAGMA user_version=2")
    with Journal(path) as j:
        assert [p.part_id for p in j.parts()] == ["P000001"]
        assert j._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        j.record_part(part(j.allocate_part(shift), shift, divergence={"welder": {"s [A]": (1.0, 2.0, 3)}}))
        assert j.parts()[-1].divergence == {"welder": {"s [A]": (1.0, 2.0, 3)}}


def test_a_journal_of_schema_3_gains_cost_lines_and_the_cell_clock_of_events_and_reads_its_old_rows(
        tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    with Journal(path) as j:
        shift = j.begin_shift(2, "h")
        j.record_part(part(j.allocate_part(shift), shift))
        j._db.execute("DROP TABLE part_costs")
        j._db.execute("DROP TABLE events")
        j._db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, shift_id INTEGER, at REAL NOT NULL, "
                      "kind TEXT NOT NULL, source TEXT NOT NULL, detail TEXT NOT NULL)")
        j._db.execute("INSERT INTO events(shift_id, at, kind, source, detail) VALUES (?, 1.0, 'state', 'packml', ?)",
                      (shift, state_detail("Starting", "Execute", "state complete")))
        j._db.execute("PRAGMA user_version=3")
    with Journal(path) as j:
        assert j._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        (old,) = j.parts(shift)
        assert old.costs == {} and old.currency == ""
        assert j.state_log(shift) == [StateChange(j.state_log(shift)[0].at, None, "Starting", "Execute")]
        costs = {"electricity": CostLine(0.05, "kWh", 0.011), "blank": CostLine(1.0, "part", 3.5)}
        j.record_part(part(j.allocate_part(shift), shift, costs=costs, currency="EUR"))
        j.log_event(shift, "state", "packml", state_detail("Execute", "Completing", "parts done"), cell_time_s=612.5)
        assert j.parts(shift)[-1].costs == costs and j.parts(shift)[-1].currency == "EUR"
        assert j.state_log(shift)[-1][1:] == (612.5, "Execute", "Completing")


def test_state_details_that_are_not_transitions_are_left_out_of_the_state_log(journal: Journal) -> None:
    shift = journal.begin_shift(1, "h")
    journal.log_event(shift, "state", "packml", "garbled")
    journal.log_event(shift, "state", "packml", state_detail("Idle", "Starting", "Start (auto_start)"), 3.0)
    assert [(c.old, c.new, c.cell_time_s) for c in journal.state_log(shift)] == [("Idle", "Starting", 3.0)]


def test_a_journal_of_schema_4_takes_parts_that_need_inspection_and_keeps_its_parts_and_their_references(
        tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite"
    with Journal(path) as j:
        shift = j.begin_shift(2, "h")
        j.record_part(part(j.allocate_part(shift), shift, divergence={"welder": {"s [A]": (1.0, 2.0, 3)}}))
        v4_parts = _parts_table("parts_v4").replace(", 'needs_inspection'", "")
        j._db.execute("PRAGMA foreign_keys=OFF")
        j._db.executescript(f"{v4_parts} INSERT INTO parts_v4 SELECT * FROM parts; DROP TABLE parts; "
                            "ALTER TABLE parts_v4 RENAME TO parts; DROP TABLE inspections; PRAGMA user_version=4;")
    with Journal(path) as j:
        assert j._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [p.part_id for p in j.parts(shift)] == ["P000001"]
        assert j.parts(shift)[0].divergence == {"welder": {"s [A]": (1.0, 2.0, 3)}}
        j.record_part(part(j.allocate_part(shift), shift, outcome=Outcome.NEEDS_INSPECTION, iso5817_level=""))
        assert j.summary(shift).needs_inspection == 1
        assert j._db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert j._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_an_operators_verdict_is_taken_only_for_a_part_routed_to_manual_inspection(journal: Journal) -> None:
    shift = journal.begin_shift(3, "h")
    unsure = Judgement("inspection", "known", "C", "needs_inspection", 0.47, ("undercut",), "inspection unsure",
                       "learned_inspection", 5.0)
    journal.record_part(part(journal.allocate_part(shift), shift, outcome=Outcome.NEEDS_INSPECTION,
                             iso5817_level="C", judgements=(unsure,)))
    journal.record_part(part(journal.allocate_part(shift), shift))  # good by its welder's own result
    with pytest.raises(VerdictRefused, match="P000002 was judged good without an operator"):
        journal.set_verdict("P000002", Outcome.DEFECTIVE, "anna")
    with pytest.raises(VerdictRefused, match="no record of part 'P999999'"):
        journal.set_verdict("P999999", Outcome.GOOD, "anna")
    assert journal.set_verdict("P000001", Outcome.DEFECTIVE, "anna") is Outcome.NEEDS_INSPECTION
    assert journal.set_verdict("P000001", Outcome.GOOD, "ben") is Outcome.DEFECTIVE  # an operator may correct one
    assert [p.outcome for p in journal.parts(shift)] == [Outcome.GOOD, Outcome.GOOD]
    judged = journal.judgements("P000001")
    assert judged[0] == unsure and [(j.source, j.verdict, j.judge) for j in judged[1:]] == \
        [("operator", "defective", "anna"), ("operator", "good", "ben")]
    events = _rows(journal.path, "SELECT kind, source, detail FROM events WHERE kind='inspect'")
    assert events == [("inspect", "anna", "P000001 needs_inspection -> defective by anna"),
                      ("inspect", "ben", "P000001 defective -> good by ben")]
    assert journal.summary(shift).good == 2 and journal.summary(shift).needs_inspection == 0
