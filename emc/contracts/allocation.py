"""The contract file's ``[allocation]`` term: how a multi-institution statement's amount is split among the
institutions that pay it, and who signs for them. Parsed and validated only; the split itself is
:mod:`emc.settlement.core.allocation`. Documented in contracts/README.md (``[allocation]``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from emc.datafiles import Code, Fraction, KeyProblem, SpecStrict
from emc.kinds import Utility

if TYPE_CHECKING:
    from emc.contracts.spec import ContractFile

BUREAU = "bureau"


class AllocationSpec(SpecStrict):
    """``basis``: each institution's measured use of ``utility`` in the settled period (the default), its use in
    the baseline period, or the agreed ``shares``. ``signatory``: who signs the statement for the paying side —
    the supervising bureau, or the code of the institution that represents the others."""

    basis: Literal["measured_use", "baseline_use", "fixed"] = "measured_use"
    utility: Utility | None = None
    shares: dict[Code, Fraction] = Field(default_factory=dict)
    signatory: str = BUREAU


DEFAULT = AllocationSpec()


def allocation_of(terms: ContractFile) -> AllocationSpec:
    """The contract's allocation term, or the default (measured use, signed by the bureau)."""
    return terms.allocation or DEFAULT


def basis_utility(terms: ContractFile) -> str:
    """The utility whose use is the basis: the term's, else the first a component covers, else the first
    metered one (electricity when the file names none)."""
    term = allocation_of(terms)
    if term.utility is not None:
        return str(term.utility)
    named = [str(u) for c in terms.components for u in c.utilities] + [str(m.utility) for m in terms.meters]
    return named[0] if named else "electricity"


def check_allocation(terms: ContractFile) -> None:
    """Cross-field rules of ``[allocation]``: a metered utility, one basis for several metered ones, shares
    exactly when the basis is fixed (one per institution, summing to 1), a known signatory."""
    term = terms.allocation
    if term is None:
        return
    codes = [i.code for i in terms.institutions]
    metered = sorted({str(m.utility) for m in terms.meters})
    if term.basis == "fixed":
        _check_shares(term, codes)
    else:
        if term.shares:
            raise KeyProblem(("allocation", "shares"), f"shares are for basis = 'fixed', not {term.basis!r}")
        if term.utility is None and len(metered) > 1:
            raise KeyProblem(("allocation", "utility"),
                             f"the contract meters {', '.join(metered)}: name the one whose use is the basis")
        if term.utility is not None and metered and str(term.utility) not in metered:
            raise KeyProblem(("allocation", "utility"), f"{term.utility!r} has no meter in [[meters]]")
        if term.basis == "baseline_use" and terms.baseline is None:
            raise KeyProblem(("allocation", "basis"), "'baseline_use' needs a [baseline] period")
    if term.signatory != BUREAU and term.signatory not in codes:
        raise KeyProblem(("allocation", "signatory"),
                         f"{term.signatory!r} is neither 'bureau' nor an institution code in [[institutions]]")


def _check_shares(term: AllocationSpec, codes: list[str]) -> None:
    for code in term.shares:
        if code not in codes:
            raise KeyProblem(("allocation", "shares", code), f"{code!r} is not in [[institutions]]")
    missing = [c for c in codes if c not in term.shares]
    if missing:
        raise KeyProblem(("allocation", "shares"), f"no share for {', '.join(missing)}; give every institution one")
    total = sum(term.shares.values(), Decimal(0))
    if total != 1:
        raise KeyProblem(("allocation", "shares"), f"the shares sum to {total}, not 1")
