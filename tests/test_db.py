"""Schema and types: migrations from empty, the migration gate, aware datetimes, settings safety."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from emc.config import DEV_SECRET_KEY, Settings
from emc.db import NotMigratedError, check_migrated, current_revision, head_revision, make_engine, upgrade
from emc.org.models import Esco


def test_migrated_database_is_at_head(engine) -> None:  # type: ignore[no-untyped-def]
    assert current_revision(engine) == head_revision()
    check_migrated(engine)


def test_app_refuses_an_unmigrated_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from emc.web.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(NotMigratedError, match="emc db upgrade"):
        create_app(Settings(database_url=str(engine.url)), engine)


def test_upgrade_is_idempotent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    shanghai = timezone(timedelta(hours=8))
    created = datetime(2024, 3, 1, 0, 0, tzinfo=shanghai)
    session.add(Esco(code="E1", name="测试", created_at=created))
    session.commit()
    session.expire_all()
    back = session.exec(select(Esco)).one().created_at
    assert back.tzinfo is not None
    assert back == created
    assert back.astimezone(UTC).hour == 16


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(Esco(code="E2", name="x", created_at=datetime(2024, 1, 1)))
    with pytest.raises(Exception, match="no time zone"):
        session.commit()


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValueError, match="EMC_SECRET_KEY"):
        Settings(env="production", secret_key=DEV_SECRET_KEY)
    Settings(env="production", secret_key="k" * 40)


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        Settings(timezone="Mars/Olympus")


def test_default_database_is_sqlite_in_the_data_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(data_dir=tmp_path)
    assert s.db_url == f"sqlite:///{tmp_path}/emc.db"
