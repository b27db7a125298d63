"""Which database answers a request: the primary, or the read replica named by ``EMC_DATABASE_READ_URL``.

The rule (README, Operations, "Read replica"):

* a read — GET or HEAD — is answered from the replica, pages, exports and PDFs alike;
* everything else (POST, PUT, PATCH, DELETE: log-in and log-out included) runs on the primary, and so does a
  read whose handler writes (marked with :func:`writes`);
* read-your-writes: a streaming replica replays the primary's WAL a little after the commit (its replay lag:
  milliseconds when idle, seconds under a bulk load). A user redirected after saving something must see it, so
  every write request stamps the user's signed session cookie with "primary until now + EMC_READ_YOUR_WRITES_S"
  (5 s), and that user's reads go to the primary until then. Other users see the change once the replica has
  replayed it, as with any replica. The stamp is a cookie, not server state, so it holds whichever web host
  answers next (their clocks agree to well under the window when they run NTP).

Without ``EMC_DATABASE_READ_URL`` the read engine *is* the primary's and nothing here changes a request.
The replica's engine opens every transaction READ ONLY (:func:`emc.db.make_engine`), so a write that strays
onto it fails at once with "cannot execute … in a read-only transaction" instead of slipping through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from sqlalchemy import Engine

from emc import clock

READS = frozenset({"GET", "HEAD"})
PRIMARY_UNTIL = "primary_until"  # the session-cookie key: epoch seconds until which this user reads the primary
_WRITES = "__emc_writes_on_read__"
F = TypeVar("F", bound=Callable[..., object])


def writes(endpoint: F) -> F:
    """Mark a GET handler that writes (a lazy cache fill, a first-visit record): it runs on the primary, since the
    replica refuses every write."""
    setattr(endpoint, _WRITES, True)
    return endpoint


def has_replica(request: Request) -> bool:
    return request.app.state.read_engine is not request.app.state.engine


def _reads_primary_now(request: Request) -> bool:
    """Whether this user wrote less than EMC_READ_YOUR_WRITES_S ago (and drop the stamp once it has passed)."""
    until = request.session.get(PRIMARY_UNTIL)
    if not isinstance(until, int | float):
        return False
    if clock.now().timestamp() < until:
        return True
    del request.session[PRIMARY_UNTIL]
    return False


def engine_for(request: Request) -> Engine:
    """The engine this request's database session runs on (see the module's rule)."""
    state = request.app.state
    if not has_replica(request) or request.method not in READS:
        return state.engine
    if getattr(request.scope.get("endpoint"), _WRITES, False) or _reads_primary_now(request):
        return state.engine
    return state.read_engine


def remember_write(request: Request) -> None:
    """After a write request: this user's reads stay on the primary for EMC_READ_YOUR_WRITES_S."""
    window = request.app.state.settings.read_your_writes_s
    if has_replica(request) and request.method not in READS and window > 0:
        request.session[PRIMARY_UNTIL] = round(clock.now().timestamp() + window, 3)
