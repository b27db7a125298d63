#!/usr/bin/env python3
"""Benchmark ``emc.mv`` against OpenEEmeter ``eemeter`` 4.1.1 on the same seeded synthetic meters.

Daily: fit a baseline (2023, 365 days) and predict the reporting year (2024) for ``--meters`` meters with
emc, and for a sample of ``--eemeter-meters`` of the *same* meters with eemeter's default daily model
(``DailyBaselineData`` + ``DailyModel``), timed after a warm-up fit (numba compilation). Hourly: the same
with emc's TOWT and eemeter's default hourly model (``HourlyModel``; ``--eemeter-hourly-caltrack`` adds the
CalTRACK hourly model, which is slower).

Reported: per-meter fit+predict time (median and mean) and the speed ratio; median CV(RMSE) of the baseline
fit (one formula for both: sqrt(mean residual²)/mean, in-sample); median absolute error of the reporting-
period savings fraction against the known truth (percentage points). Then, in the same run (docs/mv.md):
how often emc's 68 % / 90 % savings intervals (the headline, and G14 Annex B beside it) contain the true
savings on three known-truth sets (the generator below; change-point meters with AR(1) residuals ρ = 0.5;
the same with independent residuals; ``--coverage-meters`` each); the recovery of off-grid exact models and
the shared-savings payment computed from them through the settlement core; billing on few bills (the
parameter budget); and OpenEEmeter's 8 Illinois billing samples (tests/data/mv/illinois, Apache-2.0).

Synthetic meters (seeded, see ``make_meters``): Yangtze-delta weather (20 stations), change-point heating and
cooling with random balance points, working-day effects on the Chinese calendar, HVAC partly off on
non-working days, multiplicative AR(1) noise, known savings of 0–25 % in the reporting year.

eemeter runs in its own virtualenv (never a dependency of emc), created on first use with the pins from
docs/benchmarks.md::

    pip install eemeter==4.1.1 pytz "pandas<3" "scikit-learn<1.6" "multimethod==1.12"

Usage::

    .venv/bin/python scripts/bench_mv.py --venv /work/eemeter-venv   # full run (~8 min here)
    .venv/bin/python scripts/bench_mv.py --meters 100 --eemeter-meters 5 --hourly-meters 10
    .venv/bin/python scripts/bench_mv.py --no-eemeter        # emc only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

# One core each, for emc and for eemeter (its subprocess inherits this): the machine is shared and
# multi-threaded BLAS on tiny matrices only adds contention. Must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

EEMETER_PINS = ["eemeter==4.1.1", "pytz", "pandas<3", "scikit-learn<1.6", "multimethod==1.12"]
DEFAULT_VENV = Path(os.environ.get("EMC_EEMETER_VENV") or
                    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emc-bench" / "eemeter-4.1.1")
BASE_START, REP_START, END = "2023-01-01", "2024-01-01", "2025-01-01"
TZ = "Asia/Shanghai"


# -- synthetic meters (emc side) ---------------------------------------------------------------------
def make_meters(n: int, seed: int, hourly: bool = False, calendar: str = "cn") -> list[dict]:
    """``n`` meters with known savings; arrays only, so both virtualenvs can read them."""
    import pandas as pd

    from emc.mv.simulated_meters import MeterSpec, daily_meter, daily_weather, hourly_meter, hourly_weather

    rng = np.random.default_rng(seed)
    days = (pd.Timestamp(END) - pd.Timestamp(BASE_START)).days
    stations = [daily_weather(BASE_START, days, np.random.default_rng(seed + 1000 + k),
                              mean=rng.uniform(15.5, 17.5), amplitude=rng.uniform(11.5, 13.5)) for k in range(20)]
    hourly_stations: dict[int, object] = {}
    meters = []
    for i in range(n):
        r = np.random.default_rng([seed, i, int(hourly)])
        base = r.uniform(200, 5000)
        spec = MeterSpec(
            base=base,
            workday_extra=r.uniform(0.1, 1.0),
            heating_slope=r.uniform(0.0, 0.06) * base,
            heating_bp=r.uniform(10.0, 17.0),
            cooling_slope=r.uniform(0.01, 0.08) * base,
            cooling_bp=r.uniform(19.0, 25.0),
            hvac_workday_share=r.uniform(0.3, 1.0),
            noise_cv=r.uniform(0.03, 0.12),
            noise_rho=r.uniform(0.2, 0.7),
            savings=r.uniform(0.0, 0.25),
        )
        k = int(r.integers(0, len(stations)))
        if hourly:
            if k not in hourly_stations:
                hourly_stations[k] = hourly_weather(stations[k], np.random.default_rng(seed + 2000 + k))
            df = hourly_meter(spec, hourly_stations[k], r, reporting_start=REP_START,  # type: ignore[arg-type]
                              calendar=calendar)
        else:
            df = daily_meter(spec, stations[k], r, reporting_start=REP_START, calendar=calendar)
        rep = df.index >= pd.Timestamp(REP_START)
        meters.append({
            "temp_base": df["temperature"].to_numpy()[~rep], "use_base": df["usage"].to_numpy()[~rep],
            "temp_rep": df["temperature"].to_numpy()[rep], "use_rep": df["usage"].to_numpy()[rep],
            "cf_rep": df["counterfactual"].to_numpy()[rep], "savings": spec.savings,
        })
    return meters


def cvrmse(y: np.ndarray, yhat: np.ndarray) -> float:
    ok = np.isfinite(y) & np.isfinite(yhat)
    return float(np.sqrt(np.mean((y[ok] - yhat[ok]) ** 2)) / np.mean(y[ok]))


def savings_error(meter: dict, rep_pred_sum: float) -> float:
    """|estimated − true| savings fraction, in percentage points."""
    actual = float(meter["use_rep"].sum())
    true = 1.0 - actual / float(meter["cf_rep"].sum())
    est = 1.0 - actual / rep_pred_sum
    return abs(est - true) * 100.0


def run_emc(meters: list[dict], granularity: str, calendar: str = "cn") -> dict:
    import pandas as pd

    from emc.mv import fit_baseline

    freq = "D" if granularity == "daily" else "h"
    ib = pd.date_range(BASE_START, periods=len(meters[0]["use_base"]), freq=freq)
    ir = pd.date_range(REP_START, periods=len(meters[0]["use_rep"]), freq=freq)
    frames = [(pd.DataFrame({"usage": m["use_base"], "temperature": m["temp_base"]}, index=ib),
               pd.DataFrame({"usage": m["use_rep"], "temperature": m["temp_rep"]}, index=ir)) for m in meters]
    # warm caches (calendar tables), as eemeter is warmed up
    fit_baseline(frames[0][0], granularity=granularity, calendar=calendar)
    times, preds, models = [], [], []
    for base, rep in frames:
        t0 = time.perf_counter()
        model = fit_baseline(base, granularity=granularity, calendar=calendar)
        pred = model.predict(rep)
        times.append(time.perf_counter() - t0)
        preds.append(float(pred.sum()))
        models.append(model)
    cvs, errs = [], []
    for m, (base, _rep), model, ps in zip(meters, frames, models, preds, strict=True):
        cvs.append(cvrmse(m["use_base"], model.predict(base).to_numpy()))
        errs.append(savings_error(m, ps))
    coverage = interval_coverage(models, [rep for _, rep in frames],
                                 [float(m["cf_rep"].sum()) - float(m["use_rep"].sum()) for m in meters])
    return {"times": times, "cvrmse": cvs, "savings_err_pp": errs, "coverage": coverage,
            "models": [md.model_type for md in models]}


def interval_coverage(models: list, reporting: list, true_savings: list[float]) -> dict:
    """Share of meters whose true savings lie inside the stated 68 % / 90 % intervals: the headline interval
    and the G14 Annex B one beside it."""
    from emc.mv import savings

    hits = {"headline_68": 0, "headline_90": 0, "g14_68": 0, "g14_90": 0}
    n = 0
    for model, rep, true in zip(models, reporting, true_savings, strict=True):
        r = savings(model, rep)
        err = abs(r.total["savings"] - true)
        if not np.isfinite(r.total["uncertainty_68"]):
            continue
        n += 1
        for level in ("68", "90"):
            hits[f"headline_{level}"] += err <= r.total[f"uncertainty_{level}"]
            hits[f"g14_{level}"] += err <= r.total[f"uncertainty_g14_{level}"]
    out = {k: v / n if n else float("nan") for k, v in hits.items()}
    out["n"] = n
    return out


def changepoint_set(n: int, seed: int, rho: float) -> dict:
    """Known-truth set of plain change-point meters (no calendar effect) with additive AR(1) noise ``rho``
    (0: independent days): 3PH, 3PC and 5P shapes with random balance points, 0–25 % savings."""
    import pandas as pd

    from emc.mv import fit_baseline
    from emc.mv.simulated_meters import changepoint_meter, daily_weather

    models, reps, trues = [], [], []
    for i in range(n):
        r = np.random.default_rng([seed, i, round(rho * 100)])
        t = daily_weather(BASE_START, 731, r, mean=r.uniform(15.5, 17.5), amplitude=r.uniform(11.5, 13.5))
        base = r.uniform(200, 5000)
        shape = i % 3  # 0: 5P, 1: 3PH (no cooling), 2: 3PC (no heating)
        df = changepoint_meter(t, r, base=base, heating_slope=0.0 if shape == 2 else r.uniform(0.01, 0.06) * base,
                               heating_bp=r.uniform(10, 17), cooling_slope=0.0 if shape == 1 else
                               r.uniform(0.01, 0.08) * base, cooling_bp=r.uniform(19, 25),
                               noise_sd=r.uniform(0.03, 0.12) * base, noise_rho=rho, savings=r.uniform(0, 0.25),
                               reporting_start=REP_START)
        rep = df.index >= pd.Timestamp(REP_START)
        models.append(fit_baseline(df.loc[~rep, ["usage", "temperature"]], granularity="daily", calendar="weekday"))
        reps.append(df.loc[rep, ["usage", "temperature"]])
        trues.append(float(df.loc[rep, "counterfactual"].sum() - df.loc[rep, "usage"].sum()))
    return interval_coverage(models, reps, trues)


# -- off-grid exact models, money ----------------------------------------------------------------------
OFF_GRID = {  # name -> usage/day of T, true balance points
    "5P at 12.37 / 21.63 °C": (lambda t: 700.0 + 35.0 * np.maximum(12.37 - t, 0) + 55.0 * np.maximum(t - 21.63, 0),
                               (12.37, 21.63)),
    "3PC at 20.13 °C": (lambda t: 500.0 + 45.0 * np.maximum(t - 20.13, 0), (None, 20.13)),
}


def off_grid(month: str = "2024-07") -> list[dict]:
    """Fit each noise-free exact model on 2023, then settle ``month`` of 2024 (10 % saved) with the project's
    settlement core on the test contract tests/data/small-shared.toml, against the payment from the exact model."""
    import pandas as pd

    from emc.contracts.spec import load_contract_file
    from emc.mv import fit_baseline, savings
    from emc.mv.simulated_meters import daily_weather
    from emc.settlement.core import PeriodData, UtilitySavings, settle_period, settlement_periods

    contract = load_contract_file(Path(__file__).resolve().parents[1] / "tests" / "data" / "small-shared.toml")
    period = next(p for p in settlement_periods(contract.contract) if str(p.start)[:7] == month)
    t = daily_weather(BASE_START, 731, np.random.default_rng(3))
    rows = []
    for name, (f, (h, c)) in OFF_GRID.items():
        y = f(t.to_numpy())
        df = pd.DataFrame({"usage": y, "temperature": t.to_numpy()}, index=t.index)
        rep = df.loc[month]
        rep = rep.assign(usage=rep["usage"] * 0.9)
        model = fit_baseline(df.loc[:"2023-12-31"], granularity="daily")
        res = savings(model, rep)
        exact_baseline = float(f(rep["temperature"].to_numpy()).sum())

        actual = float(rep["usage"].sum())

        def pay(adjusted: float, actual: float = actual) -> Decimal:
            s = settle_period(contract, period, PeriodData(period, savings=(
                UtilitySavings("electricity", round(adjusted, 3), round(actual, 3)),)))
            return sum((line.amount for line in s.lines), Decimal(0))

        seg = model.segments[0]
        dh = abs(seg["heating_balance_point"] - h) if h is not None else 0.0
        dc = abs(seg["cooling_balance_point"] - c) if c is not None else 0.0
        got, want = pay(res.total["adjusted_baseline"]), pay(exact_baseline)
        rows.append({"name": name, "model": model.model_type, "heating": seg["heating_balance_point"],
                     "cooling": seg["cooling_balance_point"], "d_bp": max(dh, dc), "cvrmse": model.metrics["cvrmse"],
                     "payment": str(got), "exact_payment": str(want), "d_payment": float(got - want)})
    return rows


# -- billing --------------------------------------------------------------------------------------------
def few_bills() -> list[dict]:
    """Few bills: 6 bimonthly bills of a 5P building (with 2 % noise) and 5 bills of an intercept-only gas meter."""
    import pandas as pd

    from emc.mv import fit_baseline
    from emc.mv.simulated_meters import bills_from_daily, daily_weather

    rng = np.random.default_rng(11)
    t = daily_weather("2023-01-01", 400, rng)
    tt = t.to_numpy()
    out = []
    cases = {
        "6 bimonthly bills, 5P building": (700 + 35 * np.maximum(13 - tt, 0) + 55 * np.maximum(tt - 22, 0),
                                           pd.date_range("2023-01-01", periods=6, freq="2MS"), "2024-01-01"),
        "5 bills, intercept-only gas": (np.full(tt.size, 160.0), pd.DatetimeIndex(
            ["2023-01-01", "2023-03-05", "2023-05-06", "2023-07-08", "2023-09-30"]), "2023-12-31"),
    }
    for name, (y, starts, end) in cases.items():
        daily = pd.DataFrame({"usage": y * (1 + rng.normal(0, 0.02, tt.size)), "temperature": tt}, index=t.index)
        bills = bills_from_daily(daily, [str(s.date()) for s in starts], end).drop(columns="temperature")
        m = fit_baseline(bills, granularity="billing", temperature=t, calendar="weekday")
        out.append({"name": name, "bills": len(bills), "model": m.model_type, "p": m.metrics.get("p"),
                    "budget": len(bills) // 3, "cvrmse": m.metrics.get("cvrmse")})
    return out


def illinois(directory: Path) -> list[dict]:
    """The 8 Illinois billing samples shipped with eemeter (known 10 % savings)."""
    from emc.mv import fit_baseline, savings
    from emc.mv.samples import billing_sample_names, illinois_billing, illinois_temperature

    temp = illinois_temperature(directory)
    rows = []
    for name in billing_sample_names(directory):
        s = illinois_billing(name, directory, temp)
        m = fit_baseline(s.baseline, granularity="billing", temperature=temp, calendar="weekday")
        r = savings(m, s.reporting, temperature=temp)
        codes = [w.code for w in m.warnings if w.disqualifying]
        rows.append({"name": name, "bills": len(s.baseline), "span": int((s.baseline["end"].iloc[-1]
                                                                            - s.baseline.index[0]).days),
                     "model": m.model_type, "p": int(m.metrics.get("p", 0)), "budget": len(s.baseline) // 3,
                     "disqualified": codes, "cvrmse": m.metrics.get("cvrmse"),
                     "savings_fraction": r.total["savings_fraction"], "true": s.true_savings_fraction})
    return rows


# -- eemeter side (runs inside the eemeter virtualenv) ----------------------------------------------
def ensure_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if py.exists():
        ok = subprocess.run([str(py), "-c", "import eemeter; assert eemeter.__version__ == '4.1.1'"],
                            capture_output=True)
        if ok.returncode == 0:
            return py
    print(f"installing eemeter 4.1.1 into {venv} (one-off, a few minutes) …", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *EEMETER_PINS], check=True)
    return py


def worker(kind: str, inp: str, out: str, caltrack: bool) -> None:
    """Fit/predict with eemeter for every meter in ``inp`` (npz); write times and predictions to ``out``."""
    import logging
    import warnings

    import pandas as pd

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import eemeter.eemeter as ee

    warnings.filterwarnings("ignore")  # again: statsmodels re-enables its own warnings on import

    data = np.load(inp)
    k = data["use_base"].shape[0]
    freq = "D" if kind == "daily" else "h"
    ib = pd.date_range(BASE_START, periods=data["use_base"].shape[1], freq=freq, tz=TZ)
    ir = pd.date_range(REP_START, periods=data["use_rep"].shape[1], freq=freq, tz=TZ)

    def frames(i: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        f = lambda c: c * 1.8 + 32.0  # noqa: E731 - eemeter expects °F
        return (pd.DataFrame({"observed": data["use_base"][i], "temperature": f(data["temp_base"][i])}, index=ib),
                pd.DataFrame({"observed": data["use_rep"][i], "temperature": f(data["temp_rep"][i])}, index=ir))

    def fit_predict(i: int, model_name: str):
        base, rep = frames(i)
        if kind == "daily":
            bd = ee.DailyBaselineData(base, is_electricity_data=True)
            model = ee.DailyModel().fit(bd, ignore_disqualification=True)
            pr = model.predict(ee.DailyReportingData(rep, is_electricity_data=True), ignore_disqualification=True)
        elif model_name == "caltrack":
            bd = ee.HourlyCaltrackBaselineData(base, is_electricity_data=True)
            model = ee.HourlyCaltrackModel().fit(bd)  # this API takes no ignore_disqualification
            pr = model.predict(ee.HourlyCaltrackReportingData(rep, is_electricity_data=True))
        else:
            bd = ee.HourlyBaselineData(base, is_electricity_data=True)
            model = ee.HourlyModel().fit(bd, ignore_disqualification=True)
            pr = model.predict(ee.HourlyReportingData(rep, is_electricity_data=True), ignore_disqualification=True)
        return model, bd, pr

    results = {}
    for model_name in (["default"] + (["caltrack"] if caltrack and kind == "hourly" else [])):
        fit_predict(0, model_name)  # warm-up: numba compilation is not part of the per-meter cost
        times, rep_sums, base_preds = [], [], []
        for i in range(k):
            t0 = time.perf_counter()
            model, bd, pr = fit_predict(i, model_name)
            times.append(time.perf_counter() - t0)
            rep_sums.append(float(pr["predicted"].reindex(ir).sum()))
            pb = (model.predict(bd) if model_name == "caltrack" else model.predict(bd, ignore_disqualification=True))
            pb = pb["predicted"].reindex(ib).to_numpy(dtype=float)
            base_preds.append(pb.tolist())
        results[model_name] = {"times": times, "rep_sums": rep_sums, "base_preds": base_preds}
    Path(out).write_text(json.dumps(results))


def run_eemeter(py: Path, meters: list[dict], kind: str, caltrack: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(inp, **{key: np.stack([m[key] for m in meters]) for key in
                         ("use_base", "temp_base", "use_rep", "temp_rep")})
        cmd = [str(py), __file__, "--worker", kind, str(inp), str(out)] + (["--eemeter-hourly-caltrack"] if caltrack
                                                                           else [])
        subprocess.run(cmd, check=True)
        raw = json.loads(out.read_text())
    res = {}
    for name, r in raw.items():
        res[name] = {
            "times": r["times"],
            "cvrmse": [cvrmse(m["use_base"], np.asarray(bp, dtype=float)) for m, bp in
                       zip(meters, r["base_preds"], strict=True)],
            "savings_err_pp": [savings_error(m, s) for m, s in zip(meters, r["rep_sums"], strict=True)],
        }
    return res


# -- report -------------------------------------------------------------------------------------------
def med(x: list[float]) -> float:
    return float(statistics.median(x))


def table(title: str, emc_all: dict, emc_s: dict, ee: dict | None, n_all: int, n_s: int, ee_name: str) -> list[str]:
    lines = [f"\n{title}", "-" * len(title)]
    fmt = "{:<44} {:>14} {:>14} {:>12}"
    lines.append(fmt.format("", f"emc ({n_all} m.)", f"emc ({n_s} m.)", f"{ee_name}"))
    e_t = ee["times"] if ee else None
    lines.append(fmt.format("fit+predict per meter, median [s]", f"{med(emc_all['times']):.4f}",
                            f"{med(emc_s['times']):.4f}", f"{med(e_t):.3f}" if e_t else "—"))
    lines.append(fmt.format("fit+predict per meter, mean [s]", f"{np.mean(emc_all['times']):.4f}",
                            f"{np.mean(emc_s['times']):.4f}", f"{np.mean(e_t):.3f}" if e_t else "—"))
    lines.append(fmt.format("median CV(RMSE) of the baseline fit", f"{med(emc_all['cvrmse']):.4f}",
                            f"{med(emc_s['cvrmse']):.4f}", f"{med(ee['cvrmse']):.4f}" if ee else "—"))
    lines.append(fmt.format("median |savings error| [pp of savings fraction]", f"{med(emc_all['savings_err_pp']):.3f}",
                            f"{med(emc_s['savings_err_pp']):.3f}", f"{med(ee['savings_err_pp']):.3f}" if ee else "—"))
    lines.append(fmt.format("p90 |savings error| [pp]", f"{np.percentile(emc_all['savings_err_pp'], 90):.3f}",
                            f"{np.percentile(emc_s['savings_err_pp'], 90):.3f}",
                            f"{np.percentile(ee['savings_err_pp'], 90):.3f}" if ee else "—"))
    cov = emc_all["coverage"]
    lines.append(f"emc interval coverage of true savings ({cov['n']} meters): headline 68 % {cov['headline_68']:.1%}, "
                 f"90 % {cov['headline_90']:.1%}; G14 Annex B 68 % {cov['g14_68']:.1%}, 90 % {cov['g14_90']:.1%}")
    if ee:
        speed_med = med(ee["times"]) / med(emc_all["times"])
        speed_mean = float(np.mean(ee["times"]) / np.mean(emc_all["times"]))
        cv_ratio = med(emc_s["cvrmse"]) / med(ee["cvrmse"])
        lines.append(f"RATIOS vs {ee_name}: speed (median per meter) {speed_med:.0f}×, (mean) {speed_mean:.0f}× "
                     f"[target ≥ 150×]; median CV(RMSE) emc/eemeter {cv_ratio:.3f} [target ≤ 1.05]; "
                     f"median savings error emc {med(emc_s['savings_err_pp']):.3f} pp vs eemeter "
                     f"{med(ee['savings_err_pp']):.3f} pp; emc on all {n_all} meters "
                     f"{med(emc_all['savings_err_pp']):.3f} "
                     "pp [target: ≤ 0.41 pp, the figure before continuous balance points]")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=1000, help="daily meters fitted with emc (default 1000)")
    ap.add_argument("--eemeter-meters", type=int, default=30, help="of those, how many eemeter fits (default 30)")
    ap.add_argument("--hourly-meters", type=int, default=100, help="hourly meters fitted with emc (default 100)")
    ap.add_argument("--eemeter-hourly-meters", type=int, default=10, help="hourly meters for eemeter (default 10)")
    ap.add_argument("--eemeter-hourly-caltrack", action="store_true",
                    help="also time eemeter's CalTRACK hourly model (several seconds per meter)")
    ap.add_argument("--coverage-meters", type=int, default=1000,
                    help="meters in each of the AR(1) and plain coverage sets (default 1000)")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--calendar", choices=("cn", "weekday"), default="cn",
                    help="working days of the synthetic meters (and of emc's fit): the Chinese official calendar "
                    "with holidays and make-up working weekends (default), or plain Monday–Friday")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"eemeter virtualenv (default {DEFAULT_VENV})")
    ap.add_argument("--no-eemeter", action="store_true", help="run emc only")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, caltrack=args.eemeter_hourly_caltrack)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    t_start = time.perf_counter()
    py = None if args.no_eemeter else ensure_venv(args.venv)
    out_lines = [f"emc.mv benchmark — seed {args.seed}, calendar {args.calendar}, baseline {BASE_START}..{REP_START}, "
                 f"reporting {REP_START}..{END}, single process, one BLAS/numba thread, {os.cpu_count()} CPU(s)"]
    figures: dict = {}
    for kind, n_all, n_ee in (("daily", args.meters, args.eemeter_meters),
                              ("hourly", args.hourly_meters, args.eemeter_hourly_meters)):
        if n_all <= 0:
            continue
        print(f"generating {n_all} {kind} meters …", flush=True)
        meters = make_meters(n_all, args.seed, hourly=kind == "hourly", calendar=args.calendar)
        print(f"emc: fitting {n_all} {kind} meters …", flush=True)
        emc_all = run_emc(meters, kind, args.calendar)
        n_s = min(n_ee, n_all)
        emc_s = {key: emc_all[key][:n_s] for key in ("times", "cvrmse", "savings_err_pp")}
        ee_res: dict = {}
        if py is not None and n_s > 0:
            print(f"eemeter: fitting {n_s} {kind} meters (after a warm-up fit) …", flush=True)
            ee_res = run_eemeter(py, meters[:n_s], kind, args.eemeter_hourly_caltrack)
        names = {"default": "eemeter DailyModel" if kind == "daily" else "eemeter HourlyModel",
                 "caltrack": "eemeter HourlyCaltrack"}
        if ee_res:
            for name, ee in ee_res.items():
                out_lines += table(f"{kind.upper()} — emc vs {names[name]}", emc_all, emc_s, ee, n_all, n_s,
                                   names[name])
        else:
            out_lines += table(f"{kind.upper()} — emc", emc_all, emc_s, None, n_all, n_s, "eemeter")
        models: dict[str, int] = {}
        for mt in emc_all["models"]:
            key = mt.split(":")[0]
            models[key] = models.get(key, 0) + 1
        out_lines.append("emc models chosen: " + ", ".join(f"{k} {v}" for k, v in sorted(models.items(),
                                                                                       key=lambda kv: -kv[1])))
        figures[kind] = {"emc": {k: v for k, v in emc_all.items() if k != "models"}, "eemeter": ee_res}
    if args.coverage_meters > 0:
        out_lines += ["", "SAVINGS INTERVAL COVERAGE on known-truth sets (target: 68 % → 63–73 %, 90 % → 86–94 %)",
                      "-" * 86]
        sets = {}
        if "daily" in figures:
            label = f"emc generator (emc/mv/simulated_meters.py daily_meter, {args.meters} m.)"
            sets[label] = figures["daily"]["emc"]["coverage"]
        for label, rho in ((f"AR(1) residuals, rho = 0.5 ({args.coverage_meters} m.)", 0.5),
                           (f"plain, independent residuals ({args.coverage_meters} m.)", 0.0)):
            print(f"coverage set: {label} …", flush=True)
            sets[label] = changepoint_set(args.coverage_meters, args.seed + 7, rho)
        if "hourly" in figures:
            sets[f"hourly TOWT on the generator ({args.hourly_meters} m.; level + scatter form)"] = \
                figures["hourly"]["emc"]["coverage"]
        fmt = "{:<72} {:>9} {:>9} {:>9} {:>9}"
        out_lines.append(fmt.format("", "head. 68", "head. 90", "G14 68", "G14 90"))
        for label, c in sets.items():
            out_lines.append(fmt.format(label, f"{c['headline_68']:.1%}", f"{c['headline_90']:.1%}",
                                        f"{c['g14_68']:.1%}", f"{c['g14_90']:.1%}"))
        figures["coverage_sets"] = sets
    print("off-grid exact models …", flush=True)
    rows = off_grid()
    out_lines += ["", "OFF-GRID EXACT MODELS (noise-free; targets |Δ balance point| < 0.02 °C, CV(RMSE) < 1e-6, "
                  "payment within 0.05 CNY)", "-" * 86]
    for r in rows:
        out_lines.append(f"{r['name']:<24} fitted {r['model']:<6} heating {r['heating']} cooling {r['cooling']}  "
                         f"|Δbp| {r['d_bp']:.2e} °C  CV(RMSE) {r['cvrmse']:.1e}  July 2024 payment {r['payment']} CNY "
                         f"vs exact {r['exact_payment']} (Δ {r['d_payment']:+.2f})")
    figures["off_grid"] = rows
    out_lines += ["", "BILLING: few bills and the parameter budget (at most one parameter per three bills)", "-" * 86]
    fb = few_bills()
    for r in fb:
        out_lines.append(f"{r['name']:<34} {r['bills']} bills → {r['model']:<14} p={r['p']:.0f} (budget "
                         f"{r['budget']}), CV(RMSE) {r['cvrmse']:.1%}")
    figures["few_bills"] = fb
    il_dir = Path(__file__).resolve().parents[1] / "tests" / "data" / "mv" / "illinois"
    if il_dir.exists():
        il = illinois(il_dir)
        out_lines.append(f"Illinois billing samples (eemeter, known savings {il[0]['true']:.0%}): "
                         f"{sum(1 for r in il if r['disqualified'])} of {len(il)} disqualified, "
                         f"{sum(1 for r in il if r['p'] > r['budget'])} over their parameter budget")
        for r in il:
            out_lines.append(f"  {r['name']:<42} {r['bills']:>2} bills {r['span']} days → {r['model']:<14} "
                             f"p={r['p']} (budget {r['budget']}) CV(RMSE) {r['cvrmse']:.1%} savings "
                             f"{r['savings_fraction']:.1%} {' '.join(r['disqualified'])}")
        figures["illinois"] = il
    out_lines.append(f"\ntotal wall time {time.perf_counter() - t_start:.0f} s")
    print("\n".join(out_lines))
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
