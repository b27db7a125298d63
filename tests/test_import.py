"""Meter and weather imports: every error and warning class shown by a small file, the exactly-once
and correction flows, all-or-nothing commits — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from emc.audit.models import AuditEvent
from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.metering.errors import ImportRefused
from emc.metering.models import ImportBatch, Meter, Reading, ReadingRevision, WeatherObservation
from emc.metering.profiles import save_profile
from emc.metering.revert import revert_batch
from emc.metering.service import ImportOptions, import_file
from emc.org.models import Esco, Role
from emc.org.scope import Scope
from emc.org.service import load_regions

DATA = Path(__file__).parent / "data"
SITE = (DATA / "import-site.toml").read_text(encoding="utf-8")
OTHER = (SITE.replace("T-IMPORT-2024", "T-OTHER-2024").replace('code = "T-ESCO"', 'code = "T-ESCO-2"')
         .replace("T-SCH-1", "T-SCH-2").replace('"M-E"', '"X-E"').replace('"M-R"', '"X-R"').replace('"M-W"', '"X-W"'))


@pytest.fixture
def site(session: Session) -> Session:
    load_regions(session)
    for name, text in (("site.toml", SITE), ("other.toml", OTHER)):
        load_contract(session, parse_contract(text, name), source=name, actor="test")
    session.commit()
    return session


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(session: Session, path: Path, *, esco: str | None = "T-ESCO", **options):  # type: ignore[no-untyped-def]
    party = session.execute(select(Esco).where(Esco.code == esco)).scalar_one() if esco else None
    scope = Scope(role=Role.esco, esco_id=party.id) if party else Scope.everything()
    report = import_file(session, path, file_name=path.name, actor="test", scope=scope, esco=party,
                         options=ImportOptions(**options))
    session.commit()
    return report


def codes(report) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {k: n for k, n in report.findings.counts.items() if n}


def finding(report, code: str) -> dict:  # type: ignore[no-untyped-def]
    return next(f.as_dict() for f in report.findings.kept if f.code == code)


def readings(session: Session, code: str) -> list[tuple[datetime, datetime, float]]:
    meter = session.execute(select(Meter).where(Meter.code == code)).scalar_one()
    return [(r.period_start, r.period_end, r.value) for r in session.execute(
        select(Reading).where(Reading.meter_id == meter.id).order_by(Reading.period_start)).scalars()]


def count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


HOURLY = "表号,时间,用量(kWh)\n" + "".join(f"M-E,2024-03-01 {h:02d}:00,{10 + h}\n" for h in range(24))


# -- formats ------------------------------------------------------------------------------------------
def test_gbk_chinese_headers_long_layout_commit(site: Session, tmp_path: Path) -> None:
    report = run(site, write(tmp_path, "gbk.csv", HOURLY, "gbk"))
    assert report.ok and report.batch.status == "committed"
    assert (report.batch.encoding, report.batch.layout, report.batch.rows_new) == ("gb18030", "long", 24)
    rows = readings(site, "M-E")
    assert rows[0] == (datetime(2024, 2, 29, 16, tzinfo=UTC), datetime(2024, 2, 29, 17, tzinfo=UTC), 10.0)
    assert sum(v for *_, v in rows) == sum(10 + h for h in range(24))


def test_columns_found_by_name_wherever_they_are_and_units_converted(site: Session, tmp_path: Path) -> None:
    text = "\ufeffvalue,unit,timestamp,meter\n0.5,MWh,2024-03-01T00:00,M-E\n0.25,MWh,2024-03-01T01:00,M-E\n"
    report = run(site, write(tmp_path, "moved.csv", text))
    assert report.ok, report.findings.kept
    assert [v for *_, v in readings(site, "M-E")] == [500.0, 250.0]
    stored = site.execute(select(Reading)).scalars().first()
    assert (stored.source_value, stored.factor) == (0.5, 1000.0)


def test_xlsx_wide_layout_with_title_and_units_rows(site: Session, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.append(["滨湖区测试小学 能耗监测平台导出"])
    ws.append(["时间", "M-E", "M-W"])
    ws.append(["", "kWh", "t"])
    for h in range(3):
        ws.append([datetime(2024, 3, 1, h), 100 + h, 1.5])
    path = tmp_path / "wide.xlsx"
    book.save(path)
    report = run(site, path)
    assert report.ok, report.findings.kept
    assert report.batch.layout == "wide"
    assert [v for *_, v in readings(site, "M-E")] == [100.0, 101.0, 102.0]
    assert [v for *_, v in readings(site, "M-W")] == [1.5, 1.5, 1.5]


def test_bills_with_inclusive_end_dates(site: Session, tmp_path: Path) -> None:
    text = "表计编号,起始日期,截止日期,用水量(m3)\nM-W,2024-01-01,2024-01-31,310\nM-W,2024-02-01,2024-02-29,290\n"
    report = run(site, write(tmp_path, "bills.csv", text))
    assert report.ok and report.batch.layout == "bills"
    (s1, e1, v1), (s2, e2, _) = readings(site, "M-W")
    assert (e1 - s1).days == 31 and e1 == s2 and (e2 - s2).days == 29 and v1 == 310


def test_meter_read_dates_make_exclusive_bill_ends(site: Session, tmp_path: Path) -> None:
    text = ("表计编号,上次抄表日期,本次抄表日期,用水量(m3)\n"
            "M-W,2024-01-11,2024-02-09,100\nM-W,2024-02-09,2024-03-11,120\n")
    report = run(site, write(tmp_path, "reads.csv", text))
    assert report.ok
    (s1, e1, _), (s2, _, _) = readings(site, "M-W")
    assert e1 == s2 and (e1 - s1).days == 29


def test_cumulative_register_times_multiplier_and_continuation(site: Session, tmp_path: Path) -> None:
    first = ("表计编号,抄表时间,读数\nM-R,2024-03-01 00:00,1000.0\n"
             "M-R,2024-03-01 01:00,1000.5\nM-R,2024-03-01 02:00,1001.5\n")
    report = run(site, write(tmp_path, "r1.csv", first))
    assert codes(report) == {"first_register": 1}
    assert [v for *_, v in readings(site, "M-R")] == [20.0, 40.0]  # 0.5 × 40, 1.0 × 40
    # the next export repeats the last reading and goes on: no new first-register warning
    second = "表计编号,抄表时间,读数\nM-R,2024-03-01 02:00,1001.5\nM-R,2024-03-01 03:00,1002.0\n"
    report = run(site, write(tmp_path, "r2.csv", second))
    assert report.ok and codes(report) == {}
    assert [v for *_, v in readings(site, "M-R")] == [20.0, 40.0, 20.0]


def test_timestamp_meaning_period_end(site: Session, tmp_path: Path) -> None:
    report = run(site, write(tmp_path, "end.csv", HOURLY), timestamp_is="end")
    assert report.ok
    assert readings(site, "M-E")[0][1] == datetime(2024, 2, 29, 16, tzinfo=UTC)


def test_profile_adds_an_escos_own_headers(site: Session, tmp_path: Path) -> None:
    text = "测点,采样时刻,有功电能增量\nM-E,2024-03-01 00:00,5\nM-E,2024-03-01 01:00,6\n"
    path = write(tmp_path, "platform.csv", text)
    refused = run(site, path)
    # headers the reader does not know: refused, and told where to name them
    assert codes(refused) == {"unreadable": 1} and "import profile" in finding(refused, "unreadable")["message"]
    esco = site.execute(select(Esco).where(Esco.code == "T-ESCO")).scalar_one()
    save_profile(site, esco, {"aliases": {"meter": ["测点"], "time": ["采样时刻"], "consumption": ["有功电能增量"]}},
                 actor="test")
    site.commit()
    report = run(site, path)
    assert report.ok and [v for *_, v in readings(site, "M-E")] == [5.0, 6.0]


# -- errors: each blocks the commit and names row, column and value ----------------------------------
@pytest.mark.parametrize(("name", "text", "code", "row", "column", "value"), [
    ("bad_number", "表号,时间,用量\nM-E,2024-03-01 00:00,12\nM-E,2024-03-01 01:00,十二\n", "bad_number", 3,
     "用量", "十二"),
    ("bad_timestamp", "表号,时间,用量\nM-E,2024-03-01 00:00,1\nM-E,2024-13-45 01:00,2\n", "bad_timestamp", 3, "时间",
     "2024-13-45 01:00"),
    ("negative", "表号,时间,用量\nM-E,2024-03-01 00:00,1\nM-E,2024-03-01 01:00,-2\n", "negative_consumption", 3, "用量",
     "-2.0"),
    ("future", "表号,时间,用量\nM-E,2024-03-01 00:00,1\nM-E,2099-03-01 01:00,2\n", "future_timestamp", 3, "时间", None),
    ("unknown", "表号,时间,用量\nM-E,2024-03-01 00:00,1\nNOPE-1,2024-03-01 01:00,2\n", "unknown_meter", 3, "表号",
     "NOPE-1"),
    # out of the uploader's scope reads exactly like unknown: no oracle for which meter codes exist
    ("not_yours", "表号,时间,用量\nM-E,2024-03-01 00:00,1\nX-E,2024-03-01 01:00,2\n", "unknown_meter", 3,
     "表号", "X-E"),
    ("conflict", "表号,时间,用量\nM-E,2024-03-01 00:00,1\nM-E,2024-03-01 01:00,2\nM-E,2024-03-01 00:00,3\n",
     "conflicting_duplicate", 4, "用量", "3"),
    ("unit", "表号,时间,用量,单位\nM-E,2024-03-01 00:00,1,kWh\nM-E,2024-03-01 01:00,2,m3\n", "bad_unit", 3,
     "用量", "m3"),
    ("period", "表计编号,起始日期,截止日期,用水量\nM-W,2024-02-01,2024-01-01,5\n", "bad_period", 2, None, None),
    ("backwards", "表计编号,抄表时间,读数\nM-R,2024-03-01 00:00,500\nM-R,2024-03-01 01:00,400\n",
     "negative_consumption", 3,
     "读数", "400.0"),
    ("fields", "表号,时间,用量\nM-E,2024-03-01 00:00,1\nM-E,2024-03-01 01:00,2,extra\n", "bad_row", None, None, None),
])
def test_errors_name_row_column_value_and_write_nothing(site: Session, tmp_path: Path, name: str, text: str,
                                                        code: str, row: int | None, column: str | None,
                                                        value: str | None) -> None:
    report = run(site, write(tmp_path, f"{name}.csv", text))
    assert not report.ok and report.batch.status == "rejected"
    found = finding(report, code)
    if row is not None:
        assert found["row"] == row
    if column is not None:
        assert found["column"] == column
    if value is not None:
        assert found["value"] == value
    assert count(site, Reading) == 0


def test_missing_column_and_empty_and_unreadable_files(site: Session, tmp_path: Path) -> None:
    missing = run(site, write(tmp_path, "m.csv", "表号,时间\nM-E,2024-03-01 00:00\n"))
    assert "用量" in finding(missing, "missing_column")["message"]
    empty = run(site, write(tmp_path, "e.csv", "表号,时间,用量\n"))
    assert codes(empty) == {"no_rows": 1}
    junk = run(site, write(tmp_path, "j.csv", "just some words\nnothing tabular\n"))
    assert "no header row" in finding(junk, "unreadable")["message"]
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    assert ".xlsx" in finding(run(site, xls), "unreadable")["message"]


def test_file_over_the_size_limit(site: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emc.config import get_settings

    monkeypatch.setattr(get_settings(), "upload_max_bytes", 100)
    report = run(site, write(tmp_path, "big.csv", HOURLY))
    assert codes(report) == {"file_too_large": 1} and count(site, Reading) == 0


def test_an_error_on_the_last_line_leaves_the_database_as_it_was(site: Session, tmp_path: Path) -> None:
    rows = "".join(f"M-E,2024-03-{1 + h // 24:02d} {h % 24:02d}:00,{h}\n" for h in range(24 * 20))
    report = run(site, write(tmp_path, "late.csv", "表号,时间,用量\n" + rows + "M-E,2024-03-25 00:00,oops\n"),
                 chunk_rows=100)
    assert not report.ok and finding(report, "bad_number")["row"] == 24 * 20 + 2
    assert count(site, Reading) == 0
    assert site.execute(select(ImportBatch.status)).scalar_one() == "rejected"


# -- warnings: shown and kept, the rows still go in -----------------------------------------------------
def test_warnings(site: Session, tmp_path: Path) -> None:
    hours = [f"M-E,2024-02-{29 + h // 24:02d} {h % 24:02d}:00,{10 + h % 3}" for h in range(24)] + \
        [f"M-E,2024-03-01 {h:02d}:00,{10 + h % 3}" for h in range(24)]
    hours[29] = "M-E,2024-03-01 05:00,900"  # spike
    del hours[32:34]  # gap: 08:00 and 09:00 missing
    hours.append("M-E,2024-03-01 23:00,12")  # identical duplicate
    zeros = [f"M-E,2024-03-{d:02d} {h:02d}:00,0" for d in (2, 3) for h in range(24)]  # zero run
    text = "表号,时间,用量,估算\n" + "\n".join(h + "," for h in hours + zeros) + "\nM-E,2024-03-04 00:00,7,E\n"
    report = run(site, write(tmp_path, "warn.csv", text))
    assert report.ok
    found = codes(report)
    assert {"spike", "gap", "identical_duplicate", "zero_run", "estimated"} <= set(found)
    assert found["identical_duplicate"] == 1 and found["zero_run"] == 1
    gap = finding(report, "gap")
    assert gap["row"] == 34 and gap["message"] == "no data from 2024-03-01 08:00 to 2024-03-01 10:00"
    assert site.execute(select(func.count()).where(Reading.estimated)).scalar_one() == 1


def test_rollover_and_replacement(site: Session, tmp_path: Path) -> None:
    text = ("表计编号,抄表时间,读数,换表旧表读数,换表新表读数\n"
            "M-R,2024-03-01 00:00,99990,,\nM-R,2024-03-01 01:00,5,,\n"
            "M-R,2024-03-01 02:00,2,12,0\n")
    report = run(site, write(tmp_path, "roll.csv", text))
    assert report.ok, report.findings.kept
    assert {"rollover", "replacement", "first_register"} <= set(codes(report))
    # 99990 → 5 across 100000: 15 units × 40; replaced: (12 − 5) + (2 − 0) = 9 units × 40
    assert [v for *_, v in readings(site, "M-R")] == [600.0, 360.0]


# -- exactly once, corrections, revert -----------------------------------------------------------------
def test_reuploading_the_same_file_is_a_no_op(site: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", HOURLY)
    first = run(site, path)
    again = run(site, path)
    assert again.already_imported and again.batch.id == first.batch.id
    assert count(site, Reading) == 24 and count(site, ImportBatch) == 1


def test_overlap_only_new_keeps_stored_values_and_lists_conflicts(site: Session, tmp_path: Path) -> None:
    run(site, write(tmp_path, "a.csv", HOURLY))
    changed = HOURLY.replace("M-E,2024-03-01 03:00,13", "M-E,2024-03-01 03:00,99") + "M-E,2024-03-02 00:00,5\n"
    report = run(site, write(tmp_path, "b.csv", changed))
    assert report.ok
    assert (report.batch.rows_new, report.batch.rows_same, report.batch.rows_conflict) == (1, 23, 1)
    conflict = finding(report, "conflict_existing")
    assert conflict["row"] == 5 and "stored 13" in conflict["message"] and conflict["value"] == "99"
    assert readings(site, "M-E")[3][2] == 13.0


def test_replace_is_a_correction_with_history_and_revert_restores(site: Session, tmp_path: Path) -> None:
    first = run(site, write(tmp_path, "a.csv", HOURLY))
    changed = HOURLY.replace("M-E,2024-03-01 03:00,13", "M-E,2024-03-01 03:00,99")
    report = run(site, write(tmp_path, "fix.csv", changed), mode="replace")
    assert report.ok and report.batch.summary["replaced"] == 1
    assert readings(site, "M-E")[3][2] == 99.0
    revision = site.execute(select(ReadingRevision)).scalar_one()
    assert (revision.old_value, revision.new_value, revision.old_batch_id) == (13.0, 99.0, first.batch.id)
    revert_batch(site, report.batch, actor="test", reason="wrong file uploaded")
    site.commit()
    assert readings(site, "M-E")[3][2] == 13.0 and count(site, Reading) == 24
    assert site.execute(select(AuditEvent).where(AuditEvent.action == "import.revert")).scalar_one().reason == \
        "wrong file uploaded"
    with pytest.raises(ImportRefused, match="only a committed batch"):
        revert_batch(site, report.batch, actor="test", reason="again please")


def test_revert_removes_a_batchs_rows(site: Session, tmp_path: Path) -> None:
    report = run(site, write(tmp_path, "a.csv", HOURLY))
    assert revert_batch(site, report.batch, actor="test", reason="duplicate platform export") == 24
    site.commit()
    assert count(site, Reading) == 0
    again = run(site, write(tmp_path, "a.csv", HOURLY))  # a reverted file may come back
    assert again.ok and again.batch.rows_new == 24


def test_reverting_the_correction_then_the_original_leaves_no_reading(site: Session, tmp_path: Path) -> None:
    """Batch A writes the day, F corrects one hour (replace), F is reverted (A's value back), then A is reverted:
    every reading A inserted must be gone. The revision F's revert wrote (back to A's value) names A as its new
    batch; undoing it when A is reverted put F's reverted value back in place of removing the row."""
    first = run(site, write(tmp_path, "a.csv", HOURLY))
    fix = run(site, write(tmp_path, "fix.csv", HOURLY.replace("M-E,2024-03-01 03:00,13", "M-E,2024-03-01 03:00,99")),
              mode="replace")
    revert_batch(site, fix.batch, actor="test", reason="wrong correction")
    site.commit()
    assert readings(site, "M-E")[3][2] == 13.0 and count(site, Reading) == 24
    assert revert_batch(site, first.batch, actor="test", reason="whole file was wrong") == 24
    site.commit()
    assert readings(site, "M-E") == [] and count(site, Reading) == 0


def test_dry_run_writes_nothing(site: Session, tmp_path: Path) -> None:
    report = run(site, write(tmp_path, "a.csv", HOURLY), dry_run=True)
    assert report.ok and report.batch.status == "previewed" and report.batch.rows_new == 24
    assert count(site, Reading) == 0


def test_reject_files_hold_the_rejected_rows_as_uploaded(site: Session, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from emc.metering.rejects import reject_csv, reject_xlsx

    text = "表号,时间,用量\nM-E,2024-03-01 00:00,=1+1\nM-E,2024-03-01 01:00,5\nM-E,2024-03-01 02:00,-3\n"
    path = write(tmp_path, "r.csv", text, encoding="gbk")
    batch = run(site, path).batch
    describe = lambda f: f"<{f['code']}>"  # noqa: E731  (the page passes the translated meaning)
    # the batch's kept file gone: the findings alone, still with the finding column
    lines = reject_csv(batch, describe, "发现").decode("utf-8-sig").splitlines()
    assert lines[0].startswith("行号 row") and lines[0].endswith("发现") and len(lines) == 3
    assert "'=1+1" in lines[1] and "<bad_number>" in lines[1]
    batch.stored_path = str(path)  # as the upload route keeps it
    lines = reject_csv(batch, describe, "发现").decode("utf-8-sig").splitlines()
    assert lines == ["表号,时间,用量,发现", "M-E,2024-03-01 00:00,'=1+1,<bad_number>",
                     "M-E,2024-03-01 02:00,-3,<negative_consumption>"]
    sheet = load_workbook(io.BytesIO(reject_xlsx(batch, describe, "发现"))).active
    assert [c.value for c in sheet[1]] == ["表号", "时间", "用量", "发现"]
    assert [c.value for c in sheet[3]] == ["M-E", "2024-03-01 02:00", "-3", "<negative_consumption>"]
    assert sheet[2][2].value == "'=1+1"


# -- weather -----------------------------------------------------------------------------------------------
def test_weather_in_fahrenheit_creates_station_and_checks_range(site: Session, tmp_path: Path) -> None:
    text = "日期,平均气温(℉)\n2024-01-01,50\n2024-01-02,41\n"
    report = run(site, write(tmp_path, "w.csv", text), esco=None, kind="weather", station="58354")
    assert report.ok and set(codes(report)) == {"new_station"}
    temps = [o.temperature_c for o in site.execute(select(WeatherObservation)
                                                   .order_by(WeatherObservation.period_start)).scalars()]
    assert temps == pytest.approx([10.0, 5.0])
    bad = run(site, write(tmp_path, "w2.csv", "日期,气温\n2024-01-03,85\n"), esco=None, kind="weather",
              station="58354")
    assert finding(bad, "temperature_out_of_range")["row"] == 2


def test_escos_may_not_import_weather(site: Session, tmp_path: Path) -> None:
    with pytest.raises(ImportRefused, match="weather"):
        run(site, write(tmp_path, "w.csv", "日期,气温\n2024-01-01,5\n"), kind="weather", station="58354")


def test_readings_of_another_interval_over_the_same_time_are_flagged(site: Session, tmp_path: Path) -> None:
    run(site, write(tmp_path, "bill.csv", "表计编号,起始日期,截止日期,用电量\nM-E,2024-02-20,2024-03-19,9000\n"))
    report = run(site, write(tmp_path, "h.csv", HOURLY))
    assert report.ok and codes(report) == {"overlap": 1}
    assert "M-E already has readings of another interval" in finding(report, "overlap")["message"]


# -- repeated and missing readings (issue 13, observed point 5) ---------------------------------------------
REGISTERS = "表计编号,抄表时间,读数\n"


def test_a_repeated_register_reading_is_kept_once_with_a_warning(site: Session, tmp_path: Path) -> None:
    # platform exports repeat a reading (same meter, time and value): the file is good, the repeat is skipped
    text = REGISTERS + "M-R,2024-03-01 00:00,1000\nM-R,2024-03-01 01:00,1001\nM-R,2024-03-01 01:00,1001\n" \
        "M-R,2024-03-01 02:00,1003\n"
    report = run(site, write(tmp_path, "repeat.csv", text))
    assert report.ok, report.findings.kept
    assert codes(report) == {"first_register": 1, "identical_duplicate": 1}
    found = finding(report, "identical_duplicate")
    assert (found["row"], found["column"], found["value"]) == (4, "读数", "1001")
    assert [v for *_, v in readings(site, "M-R")] == [40.0, 80.0]  # 1 × 40, 2 × 40


def test_a_repeated_register_time_with_another_value_names_both(site: Session, tmp_path: Path) -> None:
    text = REGISTERS + "M-R,2024-03-01 00:00,1000\nM-R,2024-03-01 01:00,1001\nM-R,2024-03-01 01:00,1200\n" \
        "M-R,2024-03-01 02:00,1203\n"
    report = run(site, write(tmp_path, "conflict.csv", text))
    assert not report.ok and count(site, Reading) == 0
    assert set(codes(report)) == {"first_register", "conflicting_duplicate"}  # no rollover, no bad_period
    found = finding(report, "conflicting_duplicate")
    assert (found["row"], found["column"], found["value"]) == (4, "读数", "1200")
    assert "1001 (row 3)" in found["message"] and "1200 (row 4)" in found["message"]


def test_a_repeated_reading_across_chunks_is_still_a_repeat(site: Session, tmp_path: Path) -> None:
    rows = [f"M-R,2024-03-{1 + h // 24:02d} {h % 24:02d}:00,{1000 + h}" for h in range(10)]
    rows.insert(5, rows[4].replace(",1004", ",1090"))  # row 7 repeats row 6's time with another value
    report = run(site, write(tmp_path, "chunks.csv", REGISTERS + "\n".join(rows) + "\n"), chunk_rows=5)
    assert not report.ok
    found = finding(report, "conflicting_duplicate")
    assert found["row"] == 7 and "1004 (row 6)" in found["message"]


def test_a_blank_reading_cell_is_a_finding_not_a_silent_drop(site: Session, tmp_path: Path) -> None:
    text = "表号,时间,用量\nM-E,2024-03-01 00:00,1\nM-E,2024-03-01 01:00,\nM-E,2024-03-01 02:00,3\n"
    report = run(site, write(tmp_path, "blank.csv", text))
    found = finding(report, "blank_value")
    assert (found["row"], found["column"], found["value"], found["meter"]) == (3, "用量", "", "M-E")
    assert found["severity"] == "warning"
    assert [v for *_, v in readings(site, "M-E")] == [1.0, 3.0]  # missing, not zero


def test_a_blank_cell_in_a_wide_file_is_a_finding(site: Session, tmp_path: Path) -> None:
    text = "时间,M-E,M-W\n2024-03-01 00:00,1,2\n2024-03-01 01:00,,3\n"
    report = run(site, write(tmp_path, "wide.csv", text))
    found = finding(report, "blank_value")
    assert (found["row"], found["column"], found["meter"]) == (3, "M-E", "M-E")


def test_a_register_that_jumps_up_and_back_blames_the_bad_row(site: Session, tmp_path: Path) -> None:
    text = REGISTERS + "M-R,2024-03-01 00:00,100\nM-R,2024-03-01 01:00,110\nM-R,2024-03-01 02:00,5000\n" \
        "M-R,2024-03-01 03:00,120\nM-R,2024-03-01 04:00,130\n"
    report = run(site, write(tmp_path, "jump.csv", text))
    assert not report.ok and count(site, Reading) == 0
    bad = [f.as_dict() for f in report.findings.kept if f.code == "negative_consumption"]
    assert [(f["row"], f["column"], f["value"]) for f in bad] == [(4, "读数", "5000.0")]
