"""The headline savings interval covers the true savings as often as it says (issue: G14 Annex B's 68 % interval
held the truth for 56 % of this project's own synthetic meters, its 90 % interval for 83 %).

Measured on a known-truth set drawn like scripts/bench_mv.py's (which runs 1,000 meters per set and three
sets; docs/mv.md §3): here 240 meters of this project's generator, seeded, so the figure is fixed; the bounds
are the issue's targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emc.mv import fit_baseline, savings
from emc.mv.simulated_meters import MeterSpec, daily_meter, daily_weather

N = 240


@pytest.fixture(scope="module")
def coverage() -> dict[str, float]:
    hits = {"68": 0, "90": 0, "g14_68": 0, "g14_90": 0}
    stations = [daily_weather("2023-01-01", 731, np.random.default_rng(7000 + k), mean=15.5 + 0.1 * k,
                              amplitude=11.5 + 0.1 * k) for k in range(20)]
    for i in range(N):
        r = np.random.default_rng([2024, i])
        base = r.uniform(200, 5000)
        spec = MeterSpec(base=base, workday_extra=r.uniform(0.1, 1.0), heating_slope=r.uniform(0.0, 0.06) * base,
                         heating_bp=r.uniform(10.0, 17.0), cooling_slope=r.uniform(0.01, 0.08) * base,
                         cooling_bp=r.uniform(19.0, 25.0), hvac_workday_share=r.uniform(0.3, 1.0),
                         noise_cv=r.uniform(0.03, 0.12), noise_rho=r.uniform(0.2, 0.7), savings=r.uniform(0.0, 0.25))
        df = daily_meter(spec, stations[i % 20], r, reporting_start="2024-01-01")
        rep = df.index >= pd.Timestamp("2024-01-01")
        m = fit_baseline(df.loc[~rep, ["usage", "temperature"]], granularity="daily")
        res = savings(m, df.loc[rep, ["usage", "temperature"]])
        err = abs(res.total["savings"] - float(df.loc[rep, "counterfactual"].sum() - df.loc[rep, "usage"].sum()))
        for level in ("68", "90"):
            hits[level] += err <= res.total[f"uncertainty_{level}"]
            hits[f"g14_{level}"] += err <= res.total[f"uncertainty_g14_{level}"]
    return {k: v / N for k, v in hits.items()}


def test_stated_coverage_is_real_coverage(coverage: dict[str, float]) -> None:
    # The targets (63–73 %, 86–94 %); this seeded set gives 68.8 % and 90.8 % (G14: 61.3 %, 84.2 %).
    assert 0.63 <= coverage["68"] <= 0.73, coverage
    assert 0.86 <= coverage["90"] <= 0.94, coverage


def test_g14_annex_b_beside_it_is_narrower(coverage: dict[str, float]) -> None:
    """G14's figure is still reported (for compliance) and covers less, as measured in the issue."""
    assert coverage["g14_68"] < coverage["68"] and coverage["g14_90"] < coverage["90"], coverage
