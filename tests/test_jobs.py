"""The one scheduler: jobs by stable import path, one process at a time."""

from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from emc.db import make_engine, upgrade
from emc.jobs.scheduler import JOBS, SchedulerLock, configure


def test_every_job_resolves_and_is_stored_persistently(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/jobs.db")
    upgrade(engine)
    scheduler = configure(BackgroundScheduler(), engine)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {spec.id for spec in JOBS} >= {"settlement-drafts", "settlement-reminders"}
        for spec in JOBS:
            module, name = spec.func.split(":")
            assert callable(getattr(__import__(module, fromlist=[name]), name))
            assert jobs[spec.id].coalesce and jobs[spec.id].misfire_grace_time == 6 * 3600
    finally:
        scheduler.shutdown(wait=False)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM apscheduler_jobs").scalar() == len(JOBS)


def test_only_one_process_holds_the_scheduler_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/lock.db")
    first, second = SchedulerLock(engine), SchedulerLock(engine)
    assert first.acquire()
    assert not second.acquire()
