"""Measurement and verification (M&V) pure core: baselines, non-routine adjustments, savings and uncertainty.

numpy/pandas only — no database, no web. Public API::

    from emc.mv import fit_baseline, savings, Adjustment, BaselineModel
    model = fit_baseline(df, granularity="daily")          # df: usage, temperature (°C), indexed by day
    model.metrics, model.gates, model.selection, model.warnings
    stored = model.to_dict(); same = BaselineModel.from_dict(stored)
    result = savings(model, reporting_df, adjustments=[...], confidence=(0.68, 0.90))

Sign convention: savings = adjusted baseline − actual use, positive = saved (IPMVP "avoided energy use").
Methods: ASHRAE Guideline 14-2014 (metrics, gates, Annex B uncertainty), IPMVP Core Concepts 2022 (adjusted
baseline, routine and non-routine adjustments), CalTRACK 2.0 (sufficiency, daily and billing conventions),
Kissock et al. ASHRAE RP-1050 (change-point models), Hudson 1966 (exact balance points), Reddy & Claridge 2000
(savings uncertainty), Mathieu et al. 2011 (TOWT). Method notes and measured coverage: docs/mv.md.

Modules, in the order data flows through them:

* ``data``, ``calendar``, ``sufficiency`` — input frames, Chinese working days, CalTRACK sufficiency;
* ``fit`` → ``structures`` → ``changepoint`` (grid search) → ``batched_lsq`` (batched solves, CalTRACK
  qualification) → ``balance_points`` (exact Hudson points); ``towt`` for hourly data; ``selection`` (BIC);
* ``model`` — :class:`BaselineModel`: predict and store; ``metrics`` — G14 metrics and gates;
* ``savings`` (+ ``adjustments``, ``apportion`` for bills over calendar periods) and ``uncertainty``;
* ``warning`` — findings as data; ``samples`` (real billing samples) and ``simulated_meters`` (meters with
  known savings) serve tests and benchmarks only.
"""

from .adjustments import Adjustment
from .data import MVInputError
from .fit import fit_baseline
from .metrics import G14_GATES
from .model import BaselineModel
from .savings import SavingsResult, savings
from .uncertainty import fractional_savings_uncertainty
from .warning import MVWarning

__all__ = [
    "Adjustment",
    "BaselineModel",
    "G14_GATES",
    "MVInputError",
    "MVWarning",
    "SavingsResult",
    "fit_baseline",
    "fractional_savings_uncertainty",
    "savings",
]
