"""What the metering services refuse before (or instead of) reading a file: a bad mode, no rights, a batch in the
wrong state, a profile that cannot be saved. A file's own problems are findings (emc/metering/findings.py)."""

from emc.errors import DomainError


class ImportRefused(DomainError, ValueError):
    """A request we refuse before reading the file (bad mode, no rights, a batch in the wrong state)."""
