"""The catalogs and the translator live in :mod:`emc.i18n` (the kernel), so PDFs and reports use them too."""

from emc.i18n import BABEL_LOCALES, LANGUAGES, Translator, catalog

__all__ = ["BABEL_LOCALES", "LANGUAGES", "Translator", "catalog"]
