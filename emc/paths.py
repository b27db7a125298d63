"""Where shipped files live: beside the package in a checkout, inside it in an installed wheel."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def resource_dir(name: str) -> Path:
    """``templates``, ``contracts`` or ``baselines``: the checkout's copy if there is one, else the wheel's."""
    in_checkout = CHECKOUT / name
    if in_checkout.is_dir() and (CHECKOUT / "pyproject.toml").is_file():
        return in_checkout
    return PACKAGE / "examples" / name if name != "templates" else PACKAGE / "templates"


STATIC_DIR = PACKAGE / "web" / "static"
