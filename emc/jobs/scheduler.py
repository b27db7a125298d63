"""One scheduler per installation (docs/design.md §9).

APScheduler 3 runs every job in every process that starts it, so a process first takes an
installation-wide lock (a PostgreSQL advisory lock, or a lock file beside the SQLite database);
a process that cannot take it serves the web only. Jobs are stored in the database (persistent
job store) by stable import path, coalesce missed runs into one, and have a deliberate misfire
grace; a missed run is recorded in the audit log rather than dropped silently.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import ref_to_obj
from prometheus_client import Histogram
from sqlalchemy import Engine, text

from emc.config import get_settings
from emc.db import session_scope

log = logging.getLogger(__name__)
LOCK_KEY = 0x454D43  # "EMC"
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600}


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str  # "module:function" — a stable import path; renaming it orphans the stored job
    cron: dict[str, Any]


# Every job, by stable import path. Misfires within the grace time run once (coalesced); later ones are
# recorded in the audit log by the listener below and caught up by the next run (the jobs are idempotent).
JOBS: list[JobSpec] = [
    JobSpec("settlement-drafts", "emc.jobs.drafting_pool:scheduled_drafts", {"hour": 2, "minute": 15}),
    JobSpec("settlement-reminders", "emc.settlement.jobs:remind", {"hour": 8, "minute": 0}),
    JobSpec("carbon-ledger", "emc.carbon.jobs:rebuild_ledger", {"hour": 3, "minute": 0}),
    JobSpec("carbon-ledger-refresh", "emc.carbon.jobs:refresh_ledger", {"minute": "*/15"}),
    JobSpec("carbon-quota-warnings", "emc.carbon.jobs:raise_quota_warnings", {"hour": 6, "minute": 30}),
    # the inbox in step with time (overdue, new drafts and warnings) and the outbox sent, retried with backoff
    JobSpec("notifications", "emc.notify.jobs:run", {"minute": "*/5"}),
    # M&V results whose data changed (imports committed or reverted, baselines and adjustments decided) computed
    # ahead of the first view, a bounded number per run (issue 15)
    JobSpec("mv-results", "emc.baselines.results:refresh_job", {"minute": "*/10"}),
    # the carbon pages' prepared figures recomputed when what they stand on changed (also after each ledger job)
    JobSpec("carbon-figures", "emc.carbon.jobs:prepare_figures", {"minute": "5-59/10"}),
    # reading's monthly partitions twelve months ahead, and months that landed in DEFAULT split out (PostgreSQL)
    JobSpec("reading-partitions", "emc.metering.partitions:create_ahead", {"hour": 1, "minute": 40}),
]


JOB_SECONDS = Histogram("emc_job_duration_seconds", "Time a scheduled job ran, by job and outcome (ok or error).",
                        ["job", "outcome"], buckets=(0.1, 1, 5, 15, 60, 300, 900, 3600))


def run_job(job_id: str, func: str) -> Any:
    """Run one job by its import path, timing it for /metrics; the stored job names this function and the
    target's path, so renaming a job's function still only needs JOBS changed."""
    start = perf_counter()
    try:
        result = ref_to_obj(func)()
    except BaseException:
        JOB_SECONDS.labels(job_id, "error").observe(perf_counter() - start)
        raise
    JOB_SECONDS.labels(job_id, "ok").observe(perf_counter() - start)
    return result


class SchedulerLock:
    """Held for the life of the process that runs the scheduler."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._file: Any = None

    def acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            # A session-level advisory lock outlives transactions, so its connection runs in autocommit: a
            # transaction left open for the scheduler's life would sit "idle in transaction" and hold back
            # VACUUM on every table. The connection stays out of the pool until the process ends.
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            if not got:
                self._conn.close()
            return bool(got)
        database = self.engine.url.database or "memory"
        path = Path(f"{database}.scheduler.lock")
        self._file = open(path, "a+")  # noqa: SIM115  (kept open: the lock lives as long as the file)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            return False
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()
        return True

    def release(self) -> None:
        """Give the lock up (a process's end does the same)."""
        if self._conn is not None:
            # the lock belongs to the server session, which the pool would keep alive: unlock before returning it
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _record_missed(engine: Engine, event: JobExecutionEvent) -> None:
    from emc.audit import service as audit

    kind = "job.missed" if event.code == EVENT_JOB_MISSED else "job.error"
    with session_scope(engine) as session:
        audit.record(session, actor="system", action=kind, object_type="job", object_id=event.job_id,
                     after={"scheduled": event.scheduled_run_time.isoformat(),
                            "error": repr(event.exception) if event.exception else None})


def configure(scheduler: Any, engine: Engine) -> Any:
    scheduler.configure(jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
                        job_defaults=JOB_DEFAULTS, timezone=get_settings().timezone)
    for job in JOBS:
        scheduler.add_job("emc.jobs.scheduler:run_job", CronTrigger(**job.cron), args=[job.id, job.func],
                          id=job.id, name=job.id, replace_existing=True)
    scheduler.add_listener(lambda e: _record_missed(engine, e), EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    return scheduler


_started: list[Any] = []
_lock_guard = threading.Lock()


def start_background(engine: Engine) -> bool:
    """Start the scheduler inside this process if no other process runs it. Returns whether it did."""
    with _lock_guard:
        if _started:
            return True
        lock = SchedulerLock(engine)
        if not lock.acquire():
            log.warning("another process runs the scheduler; this one serves the web only")
            return False
        scheduler = configure(BackgroundScheduler(), engine)
        scheduler.start()
        _started.append((scheduler, lock))
        return True


def run_blocking(engine: Engine) -> None:
    lock = SchedulerLock(engine)
    if not lock.acquire():
        raise SystemExit("another process already runs the emc scheduler (lock held)")
    scheduler = configure(BlockingScheduler(), engine)
    print(f"emc scheduler running {len(JOBS)} job(s); Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):  # Ctrl-C or a stop signal: a clean exit
        scheduler.start()
