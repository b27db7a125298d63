"""An ESCO's import profile: how its platform writes exports (extra header aliases, what a timestamp means, time
zone, interval, sheet), saved once so its uploads need no questions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from emc.audit import service as audit
from emc.dbtypes import utcnow
from emc.metering.errors import ImportRefused
from emc.metering.models import ImportProfile
from emc.org.models import Esco, User


def profile_settings(session: Session, esco: Esco | None) -> dict[str, Any]:
    if esco is None:
        return {}
    profile = session.execute(select(ImportProfile).where(ImportProfile.esco_id == esco.id,
                                                          ImportProfile.name == "default")).scalar_one_or_none()
    return dict(profile.settings) if profile else {}


def save_profile(session: Session, esco: Esco, settings: dict[str, Any], *, actor: User | str) -> ImportProfile:
    """Save an ESCO's mapping (extra header aliases, timestamp meaning, time zone, interval)."""
    allowed = {"aliases", "timestamp_is", "timezone", "interval_s", "sheet"}
    unknown = set(settings) - allowed
    if unknown:
        raise ImportRefused(f"unknown profile keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    if settings.get("timestamp_is") not in (None, "start", "end"):
        raise ImportRefused(f"timestamp_is must be 'start' or 'end', not {settings['timestamp_is']!r}")
    if settings.get("timezone"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(settings["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImportRefused(f"timezone {settings['timezone']!r} is not an IANA time zone") from exc
    if settings.get("interval_s") is not None and int(settings["interval_s"]) <= 0:
        raise ImportRefused("interval_s must be a positive number of seconds")
    profile = session.execute(select(ImportProfile).where(ImportProfile.esco_id == esco.id,
                                                          ImportProfile.name == "default")).scalar_one_or_none()
    before = dict(profile.settings) if profile else None
    if profile is None:
        profile = ImportProfile(esco_id=esco.id, name="default", settings=settings)
        session.add(profile)
    else:
        profile.settings, profile.updated_at = settings, utcnow()
    audit.record(session, actor=actor, action="import_profile.save", object_type="esco", object_id=esco.code,
                 before=before, after=settings)
    return profile
