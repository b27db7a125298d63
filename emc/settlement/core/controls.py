"""Controls on money, as pure checks the workflow runs before it writes anything.

- Four eyes: the approver of a settlement is neither its submitter nor whoever last changed its inputs
  (segregation of duties; ``EMC_FOUR_EYES=false`` lets a one-person office approve its own, audited).
- Confirmation: an irreversible action (approve, issue, pay, a payment's reversal) carries the amount the
  user confirmed, and it must be the settlement's net amount as stored now — a page left open while the
  figures changed cannot approve the new figures blind.
- Payments: dated between the day of issue and today, with a sane bank reference.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from emc.errors import DomainError

IRREVERSIBLE = ("approve", "issue", "pay", "reverse_payment")
REFERENCE = re.compile(r"[\w\-/.#:() ]{4,60}")


class SettlementError(DomainError, ValueError, status=409, key="error.conflict"):
    """A settlement action refused; the message says why (the routes answer 409)."""


class ControlError(SettlementError):
    """An action refused by a control; the message says which control and what to do."""


class ConfirmationError(ControlError, status=422, key="error.refused"):
    """The confirmed amount is missing or differs from the settlement's (the client answers 422)."""


def four_eyes_conflict(approver: str, submitted_by: str, inputs_changed_by: str) -> str:
    """Why ``approver`` may not approve (empty when they may)."""
    if submitted_by and approver == submitted_by:
        return f"{approver} submitted it"
    if inputs_changed_by and approver == inputs_changed_by:
        return f"{approver} last changed its inputs"
    return ""


def parse_amount(value: str | Decimal | None) -> Decimal | None:
    """An amount as a user types it: 1307829.01, 1,307,829.01, ¥1,307,829.01 元, -12.50."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    text = str(value).strip().replace(",", "").replace("，", "").replace("¥", "").replace("元", "").strip()
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def check_confirmation(number: str, action: str, net: Decimal, confirmed: str | Decimal | None) -> None:
    if action not in IRREVERSIBLE:
        return
    amount = parse_amount(confirmed)
    if amount is None:
        raise ConfirmationError(f"{number}: confirm '{action}' with the amount {net:,.2f} (confirm_amount)")
    if amount != net:
        raise ConfirmationError(f"{number}: the confirmed amount {amount:,.2f} is not the settlement's "
                                f"{net:,.2f}; reload it and confirm again")


def check_payment(number: str, paid_on: date | None, reference: str, issued_on: date | None, today: date) -> str:
    """The payment's date lies between the day of issue and today; the bank reference is 4–60 letters,
    digits or - _ / . # : ( ) and spaces, with at least 4 letters or digits. Returns the cleaned reference."""
    ref = (reference or "").strip()
    if paid_on is None or not ref:
        raise ControlError(f"{number}: record the payment date and the bank reference")
    if issued_on is not None and paid_on < issued_on:
        raise ControlError(f"{number}: paid_on {paid_on} is before the statement was issued on {issued_on}")
    if paid_on > today:
        raise ControlError(f"{number}: paid_on {paid_on} is in the future (today is {today})")
    if not REFERENCE.fullmatch(ref) or sum(c.isalnum() for c in ref) < 4:
        raise ControlError(f"{number}: reference {ref[:80]!r} is not a bank reference (4–60 letters, digits, "
                           "- _ / . # : ( ) or spaces)")
    return ref
