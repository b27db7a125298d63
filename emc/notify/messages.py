"""Texts of delivered messages in the user's language, from the same catalogs the pages use
(``emc/web/locales/*.toml``, read as data files: a job sends mail without loading the web layer)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

_DIR = Path(__file__).resolve().parent.parent / "web" / "locales"


@lru_cache
def catalog(lang: str) -> dict[str, str]:
    path = _DIR / f"{lang if lang in ('zh', 'en') else 'zh'}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def text(lang: str, key: str, **values: Any) -> str:
    found = catalog(lang).get(key) or catalog("zh").get(key, key)
    return found.format(**values) if values else found
