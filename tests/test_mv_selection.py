"""Selection by BIC with a preference for the simpler model within ΔBIC ≤ 2; the reason is reported."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emc.mv import fit_baseline
from emc.mv.selection import Candidate, select
from emc.mv.simulated_meters import daily_weather


def test_simpler_model_wins_within_delta_bic() -> None:
    cands = [Candidate("3PC", 3, 10.0, 100.0, 0.9, True), Candidate("5P", 5, 9.0, 98.5, 0.91, True),
             Candidate("4P", 4, 9.5, 99.0, 0.9, False, "slope not significant")]
    chosen, reason = select(cands)
    assert chosen is not None and chosen.name == "3PC"
    assert "within ΔBIC ≤ 2 of 5P" in reason and "fewer parameters" in reason
    chosen, reason = select([Candidate("3PC", 3, 10.0, 100.0, 0.9, True), Candidate("5P", 5, 9.0, 90.0, 0.9, True)])
    assert chosen is not None and chosen.name == "5P" and reason.startswith("5P has the lowest BIC")
    assert select([Candidate("4P", 4, 1.0, 1.0, 0.9, False)]) == (None, "no candidate qualified")


def test_weather_independent_noisy_load_gets_the_mean_model() -> None:
    t = daily_weather("2023-01-01", 365, np.random.default_rng(1))
    y = 500.0 * (1 + np.random.default_rng(2).normal(0, 0.05, t.size))
    m = fit_baseline(pd.DataFrame({"usage": y, "temperature": t.to_numpy()}, index=t.index), granularity="daily")
    assert m.model_type == "mean", m.selection["reason"]
    table = {c["name"]: c for c in m.selection["candidates"]}
    assert not table["3PC"]["qualified"] or table["3PC"]["bic"] > table["mean"]["bic"]
    assert "low_r2" in [w.code for w in m.warnings] and m.gates["passed"]
    assert m.selection["criterion"].startswith("BIC")
