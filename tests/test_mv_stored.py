"""Stored baselines (schema version 1, tests/data/mv/) still make exactly the predictions they made when stored.

This is the contract with settlements years later: an approved baseline is reproduced bit for bit. If this
test fails after a change to emc.mv, the change alters settled numbers: keep the old behaviour for version 1
and introduce a new schema version instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emc.mv import BaselineModel

CASES = json.loads((Path(__file__).parent / "data" / "mv" / "stored_models_v1.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_stored_model_reproduces_its_predictions_exactly(case: dict) -> None:
    model = BaselineModel.from_dict(case["model"])
    inp = dict(case["input"])
    index = pd.DatetimeIndex(pd.to_datetime(inp.pop("index")))
    if "end" in inp:
        inp["end"] = pd.to_datetime(inp["end"])
    data = pd.DataFrame(inp, index=index)
    temperature = None
    if "temperature" in case:
        temperature = pd.Series(case["temperature"]["values"], index=pd.to_datetime(case["temperature"]["index"]))
    got = model.predict(data, temperature=temperature).to_numpy()
    assert np.array_equal(got, np.asarray(case["expected"], dtype=float))
