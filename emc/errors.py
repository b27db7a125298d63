"""The one base of every refusal a domain raises: the HTTP status and the message key travel with the error.

A domain says *why* it refuses (the message) and *what kind* of refusal it is (the class); it never imports
the web. The web layer answers every :class:`DomainError` in one place (``emc.web.errors``): a toast for HTMX,
a page for a browser, JSON under ``/api``. A subclass names its status and key in its class line::

    class SettlementError(DomainError, ValueError, status=409, key="error.conflict"): ...

``public=False`` keeps the message to the logs and shows only the key's text (a 404 must not tell "does not
exist" from "not yours"); ``problems`` lists several messages (a file's problems, one a line).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    """A request the domain refuses; the message says why in words the user can act on."""

    status: ClassVar[int] = 422
    key: ClassVar[str] = "error.refused"
    public: ClassVar[bool] = True
    problems: Sequence[Any] = ()

    def __init_subclass__(cls, *, status: int | None = None, key: str | None = None, public: bool | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if key is not None:
            cls.key = key
        if public is not None:
            cls.public = public

    @classmethod
    def listing(cls, problems: Sequence[Any]) -> DomainError:
        """The error of several problems, each shown on its own line."""
        error = cls("\n".join(str(p) for p in problems))
        error.problems = list(problems)
        return error

    def messages(self) -> list[str]:
        """What the user reads: each problem on its own line, else the message."""
        return [str(p) for p in self.problems] or [str(self)]


class Refused(DomainError, ValueError):
    """The request's content cannot be accepted as sent (422)."""


class Conflict(DomainError, status=409, key="error.conflict"):
    """The object's state (or a change made meanwhile by someone else) does not allow this now (409)."""


class TooLarge(DomainError, ValueError, status=413, key="error.too_large"):
    """A body or file over the configured limit (413)."""
