"""The page number every list route accepts (pages and API alike)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# Bounded so the row offset stays far inside a 64-bit integer: page=99999999999999999999 is a 422 that
# names the field, never an overflow in the database driver (a 500).
MAX_PAGE = 100_000
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page number, 1 to {MAX_PAGE:,}")]
