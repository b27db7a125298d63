"""Checking a statement someone holds (/verify), without telling anything to someone who holds only its number.

A statement carries its number and a verification code (the first 16 hex digits of the approved settlement's
frozen-inputs hash, :func:`emc.settlement.statements.verification_code`). The check answers only "matches" or
"does not match": for a number and a code, or for the PDF itself, whose SHA-256 must be one this system
handed out (:func:`issued_copy` records it whenever it renders the statement for a user in scope). An unknown
number, a draft and a wrong code give the same answer, and nothing is rendered for the caller.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlmodel import Session

from emc.settlement import statements
from emc.settlement.models import Settlement, StatementDigest


def issued_copy(session: Session, row: Settlement, base_url: str | None = None) -> bytes:
    """The statement PDF for a user in scope; its digest is recorded (the caller commits) so the copy
    verifies later."""
    pdf = statements.render(session, row, base_url)
    digest = statements.pdf_digest(pdf)
    if session.get(StatementDigest, (row.id, digest)) is None:
        session.add(StatementDigest(settlement_id=row.id, sha256=digest))
        session.flush()
    return pdf


def _normal(code: str) -> str:
    return re.sub(r"[^0-9A-F]", "", code.upper())


def _approved(session: Session, number: str) -> Settlement | None:
    row = session.execute(select(Settlement).where(Settlement.number == number.strip())).scalars().first()
    return row if row is not None and row.inputs_hash else None


def code_matches(session: Session, number: str, code: str) -> bool:
    row = _approved(session, number)
    expected = _normal(statements.verification_code(row)) if row is not None else "0" * 16
    given = _normal(code)
    return secrets.compare_digest(expected, given) and row is not None and len(given) == 16


def pdf_matches(session: Session, number: str, data: bytes) -> bool:
    row = _approved(session, number)
    if row is None:
        return False
    digest = statements.pdf_digest(data)
    return session.get(StatementDigest, (row.id, digest)) is not None
