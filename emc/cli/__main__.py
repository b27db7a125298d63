"""``python -m emc.cli``: the same command as the ``emc`` script."""

from emc.cli import app

app()
