"""The demo database: shipped regions, the example contracts, a synthetic portfolio beside them and
one user per role with documented passwords (README "Demo users"). Running it twice changes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from emc import clock
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import load_contract_file
from emc.db import analyze, session_scope
from emc.demo.summary import count_lines, problem_lines
from emc.metering.partitions import ensure_partitions
from emc.org.models import Role, User
from emc.org.service import UserCreate, create_user, load_regions
from emc.paths import resource_dir
from emc.settlement.models import Settlement, SettlementStatus
from emc.tariffs.service import load_file as load_tariffs


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    region: str | None = None
    esco_of_contract: str | None = None  # the ESCO holding this example contract
    display_name: str = ""


DEMO_USERS = [
    DemoUser("admin", "demo-admin", "admin", display_name="系统管理员"),
    DemoUser("manager", "demo-manager", "manager", region="320000", display_name="江苏省机关事务管理局 合同管理"),
    # a second manager of the province: approves what the first submitted (four eyes, EMC_FOUR_EYES)
    DemoUser("manager2", "demo-manager2", "manager", region="320000", display_name="江苏省机关事务管理局 复核"),
    DemoUser("binhu", "demo-binhu", "manager", region="320211", display_name="滨湖区机关事务管理局"),
    DemoUser("finance", "demo-finance", "finance", region="320000", display_name="财务处"),
    DemoUser("viewer", "demo-viewer", "viewer", region="320200", display_name="无锡市 只读"),
    DemoUser("esco", "demo-esco", "esco", esco_of_contract="wuxi-civic-centre.toml", display_name="国网综能 项目经理"),
    DemoUser("esco2", "demo-esco2", "esco", esco_of_contract="hospital-hvac-lighting.toml",
             display_name="医院项目 ESCO"),
]


def _partitions(engine: Engine) -> Iterator[str]:
    """The demo's years of history landed in reading's DEFAULT partition (PostgreSQL): give each month its own,
    as the daily job would, so the demo's queries prune by month from the start."""
    with engine.begin() as conn:
        report = ensure_partitions(conn, clock.today())
    if report.created:
        yield (f"reading partitions: {len(report.created)} created, "
               f"{report.moved_out_of_default:,} readings moved out of DEFAULT")


def build_demo(engine: Engine, *, synthetic_contracts: int = 40, settle: bool = True) -> Iterator[str]:
    contracts_dir = resource_dir("contracts")
    files = sorted(contracts_dir.glob("*.toml"))
    esco_by_file: dict[str, str] = {}
    with session_scope(engine) as session:
        added = load_regions(session)
        yield f"regions: {added} added"
        for path in sorted((contracts_dir / "tariffs").glob("*.toml")):
            for saved in load_tariffs(session, path, actor="demo"):
                yield f"tariff {saved}"
        for path in files:
            spec = load_contract_file(path)
            result = load_contract(session, spec, source=path.name, actor="demo")
            esco_by_file[path.name] = spec.esco.code
            yield f"contract {result}"

    yield from _partitions(engine)
    yield from _baselines(engine)
    yield from _continued(engine, clock.today())

    if synthetic_contracts > 0:
        yield from _synthetic(engine, synthetic_contracts)
        yield from _partitions(engine)

    with session_scope(engine) as session:
        for demo_user in DEMO_USERS:
            if session.exec(select(User).where(User.username == demo_user.username)).first():
                continue
            esco = esco_by_file.get(demo_user.esco_of_contract or "")
            if demo_user.esco_of_contract and esco is None:
                yield f"user {demo_user.username}: skipped ({demo_user.esco_of_contract} not in {contracts_dir})"
                continue
            create_user(session, UserCreate(username=demo_user.username, password=demo_user.password,
                                            role=Role(demo_user.role), region=demo_user.region, esco=esco,
                                            display_name=demo_user.display_name), actor="demo")
            yield f"user {demo_user.username} / {demo_user.password} ({demo_user.role})"
    if settle:
        yield from _settle(engine)
    yield from _carbon(engine)
    yield from _notifications(engine)
    with engine.begin() as conn:  # statistics for everything loaded above (autovacuum may be off)
        analyze(conn)
    with session_scope(engine) as session:
        yield from count_lines(session)
    yield "demo ready: emc serve, then open http://127.0.0.1:8000 (users above; README lists them)"


def _notifications(engine: Engine) -> Iterator[str]:
    """Each demo user's inbox as the data stand (drafts to submit, statements to pay, warnings …). Nothing is
    sent: the demo's users have no e-mail address and the group robots are left out whatever the environment says."""
    from emc.notify import delivery, sync

    with session_scope(engine) as session:
        quiet = delivery.DeliverySettings(smtp_host="", wecom_webhook="", dingtalk_webhook="")
        report = sync.sync(session, clock.today(), settings=quiet)
    yield f"notifications: {report.opened} opened, {report.resolved} resolved"


def _settle(engine: Engine) -> Iterator[str]:
    """What a bureau would have done by now: baselines fitted and approved (a model failing the ASHRAE G14
    gates is approved with the demo's written reason, as the product requires), every period that has
    ended drafted by the scheduler's job, and each example contract's statements taken through the workflow
    as a bureau would have them today (old ones paid, recent ones issued, last month's approved, this month's
    a draft). Idempotent: a second run finds the baselines and settlements in place."""
    from emc.baselines import service as baselines
    from emc.settlement import drafting, period_inputs
    from emc.settlement.models import Settlement

    today = clock.today()

    with session_scope(engine) as session:
        fitted = failed = 0
        for contract in session.execute(select(Contract).order_by(Contract.code)).scalars():
            for utility in period_inputs.savings_utilities(period_inputs.terms(session, contract)):
                if baselines.approved(session, contract, utility) is not None:
                    continue
                savepoint = session.begin_nested()  # a fit that cannot be approved leaves nothing behind
                try:
                    b = baselines.fit(session, contract, utility, actor="demo")
                    baselines.approve(session, b, actor="demo",
                                      reason="演示数据：按拟合结果批准")
                    savepoint.commit()
                    fitted += 1
                except Exception:  # noqa: BLE001  (no readings, no weather, a disqualified model): the contract waits
                    savepoint.rollback()
                    failed += 1
        yield (f"baselines: {fitted} approved, {failed} cannot be fitted (no readings or no weather over the "
               "baseline period: their settlements wait, as they would in production)")
    with session_scope(engine) as session:
        report = drafting.run_due(session, today, actor="demo")
        yield f"settlements: {len(report.created)} drafted, {len(report.waiting)} contracts waiting for data"
    with session_scope(engine) as session:
        examples = list(session.execute(select(Contract).where(~col(Contract.code).startswith("SYN-"))).scalars())
        moved: Counter[str] = Counter()
        for contract in examples:
            rows = session.execute(select(Settlement).where(
                col(Settlement.contract_id) == contract.id, col(Settlement.version) == 1,
                col(Settlement.status) == SettlementStatus.draft)).scalars().all()
            # newest first: the latest recent period stays a draft (this month's work), the one before is
            # approved and waits to be issued, recent ones are issued (finance pays them), older ones paid
            newest = sorted(rows, key=lambda r: (r.period_end, r.kind == "year_end"), reverse=True)
            for i, row in enumerate(newest):
                recent = (today - row.period_end).days < RECENT_DAYS
                if recent and i == 0:
                    continue
                moved[_workflow(session, row, today, approve_only=recent and i == 1)] += 1
        states = ", ".join(f"{n} {state}" for state, n in sorted(moved.items())) or "none moved"
        yield f"settlements of the examples: {states} (the latest recent period of each stays a draft)"


RECENT_DAYS = 62  # a period that ended less than about two months ago is this month's or last month's work
UNPAID_DAYS = 100  # statements issued in the last three months are not paid yet


def _workflow(session: Session, row: Settlement, today: date, *, approve_only: bool) -> str:
    """As it would have happened: submitted after the period, approved by a second manager (four eyes),
    issued, and paid within the payment days; the state the row ends in."""
    from emc.settlement import workflow

    def day(n: int, end: date = row.period_end) -> datetime:
        return min(datetime.combine(end + timedelta(days=n), time(10), UTC), datetime.now(UTC))

    workflow.transition(session, row, "submit", actor="manager", at=day(2))
    workflow.transition(session, row, "approve", actor="manager2", at=day(4))
    if approve_only:
        return "approved"
    workflow.transition(session, row, "issue", actor="manager", at=day(5))
    if (today - row.period_end).days < UNPAID_DAYS or row.net_to_esco == 0:  # (nothing owed: nothing to pay)
        return "issued"
    workflow.transition(session, row, "pay", actor="finance", paid_on=row.period_end + timedelta(days=25),
                          reference=f"DEMO-{row.number}", at=day(25))
    return "paid"


def _carbon(engine: Engine) -> Iterator[str]:
    """Factors, targets, quotas and ledger settings from the shipped seed, then the ledger and its warnings
    (what the nightly jobs keep up to date)."""
    from sqlalchemy import func

    from emc.carbon import alerts, ledger
    from emc.carbon import loading as carbon
    from emc.carbon.models import CarbonEntry

    with session_scope(engine) as session:
        reports = carbon.load_seed(session, actor="demo")
        reports.append(carbon.load_file(session, resource_dir("baselines") / "carbon-demo-targets.toml", actor="demo"))
        for report in reports:
            for line in report.lines():
                yield f"carbon {line}"
        rebuilt = ledger.rebuild(session, actor="demo")
        span = f"{rebuilt.years[0]}–{rebuilt.years[-1]}" if rebuilt.years else "–"
        yield (f"carbon ledger {span}: {rebuilt.added:,} entries added, {rebuilt.unchanged:,} unchanged, "
               f"{len(rebuilt.problems)} problem(s){':' if rebuilt.problems else ''}")
        yield from problem_lines(rebuilt.problems)
        year = func.extract("year", col(CarbonEntry.month))
        busiest = session.execute(select(year, func.count()).group_by(year).order_by(func.count().desc())).first()
        if busiest:  # the over-quota check as of October of the year with the most data (a year in progress)
            warned = alerts.raise_quota_warnings(session, today=date(int(busiest[0]), 10, 1), actor="demo")
            yield f"carbon {warned.lines()[0]}"


def _baselines(engine: Engine) -> Iterator[str]:
    """Import the examples' meter exports and weather (baselines/manifest.toml) like uploads would."""
    import tomllib

    from emc.metering.service import ImportOptions, import_file
    from emc.org.scope import Scope

    folder = resource_dir("baselines")
    manifest = folder / "manifest.toml"
    if not manifest.is_file():
        yield f"baselines: no {manifest}; no readings imported"
        return
    for item in tomllib.loads(manifest.read_text(encoding="utf-8"))["imports"]:
        options = ImportOptions(kind=item.get("kind", "meter"), sheet=item.get("sheet"), station=item.get("station"))
        with session_scope(engine) as session:
            report = import_file(session, folder / item["file"], file_name=item["file"], actor="demo",
                                 scope=Scope.everything(), options=options)
        batch = report.batch
        state = "present already" if report.already_imported else f"{batch.status}, {batch.rows_new:,} new rows"
        if batch.errors:
            state += f", {batch.errors} errors"
        yield f"import {item['file']}{' [' + item['sheet'] + ']' if item.get('sheet') else ''}: {state}"


def _continued(engine: Engine, today: date) -> Iterator[str]:
    """The examples' data continued to the last full month before ``today`` (emc.demo.extend), imported like
    uploads; a second run finds them present."""
    from emc.demo.extend import extension_files
    from emc.metering.service import ImportOptions, import_file
    from emc.org.scope import Scope

    with session_scope(engine) as session:
        files = extension_files(session, today)
    for item in files:
        with session_scope(engine) as session:
            report = import_file(session, item.path, file_name=item.path.name, actor="demo", scope=Scope.everything(),
                                 options=ImportOptions(kind=item.kind, station=item.station))
        batch = report.batch
        state = "present already" if report.already_imported else f"{batch.status}, {batch.rows_new:,} new rows"
        if batch.errors:
            state += f", {batch.errors} errors"
        yield f"import {item.path.name} (continued to {today.replace(day=1)}): {state}"


def _synthetic(engine: Engine, contracts: int) -> Iterator[str]:
    from emc.demo import portfolio as synthetic
    from emc.demo.spec import demo_spec

    with session_scope(engine) as session:
        if session.exec(select(Contract.id).where(Contract.code.startswith("SYN-"))).first() is not None:
            yield "synthetic portfolio: present already"
            return
    with session_scope(engine) as session:
        summary = synthetic.generate(session, demo_spec(contracts, clock.today()), actor="demo")
    yield "synthetic portfolio:"
    for line in summary.lines():
        yield f"  {line}"

