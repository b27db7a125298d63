#!/usr/bin/env python3
"""Benchmark ``emc.mv`` against OpenEEmeter ``eemeter`` 4.1.1 on the same seeded synthetic meters.

Daily: fit a baseline (2023, 365 days) and predict the reporting year (2024) for ``--meters`` meters with
emc, and for a sample of ``--eemeter-meters`` of the *same* meters with eemeter's default daily model
(``DailyBaselineData`` + ``DailyModel``), timed after a warm-up fit (numba compilation). Hourly: the same
with emc's TOWT and eemeter's default hourly model (``HourlyModel``; ``--eemeter-hourly-caltrack`` adds the
CalTRACK hourly model, which is slower).

Reported: per-meter fit+predict time (median and mean) and the speed ratio; median CV(RMSE) of the baseline
fit (one formula for both: sqrt(mean residual²)/mean, in-sample); median absolute error of the reporting-
period savings fraction against the known truth (percentage points); for emc also how often its 68 % / 90 %
savings intervals (G14 formula, and the prediction-variance form) contain the true savings.

Synthetic meters (seeded, see ``make_meters``): Yangtze-delta weather (20 stations), change-point heating and
cooling with random balance points, working-day effects on the Chinese calendar, HVAC partly off on
non-working days, multiplicative AR(1) noise, known savings of 0–25 % in the reporting year.

eemeter runs in its own virtualenv (never a dependency of emc), created on first use with the pins from
shared/benchmarks.md::

    pip install eemeter==4.1.1 pytz "pandas<3" "scikit-learn<1.6" "multimethod==1.12"

Usage::

    .venv/bin/python scripts/bench_mv.py                      # full run (~5 min here)
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
from pathlib import Path

# One core each, for emc and for eemeter (its subprocess inherits this): the machine is shared and
# multi-threaded BLAS on tiny matrices only adds contention. Must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

EEMETER_PINS = ["eemeter==4.1.1", "pytz", "pandas<3", "scikit-learn<1.6", "multimethod==1.12"]
DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emc-bench" / "eemeter-4.1.1"
BASE_START, REP_START, END = "2023-01-01", "2024-01-01", "2025-01-01"
TZ = "Asia/Shanghai"


# -- synthetic meters (emc side) ---------------------------------------------------------------------
def make_meters(n: int, seed: int, hourly: bool = False, calendar: str = "cn") -> list[dict]:
    """``n`` meters with known savings; arrays only, so both virtualenvs can read them."""
    import pandas as pd

    from emc.mv.synthetic import MeterSpec, daily_meter, daily_weather, hourly_meter, hourly_weather

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

    from emc.mv import fit_baseline, savings

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
    cvs, errs, cover = [], [], {"g14_68": 0, "g14_90": 0, "model_68": 0, "model_90": 0}
    n_cov = n_model = 0
    for m, (base, rep), model, ps in zip(meters, frames, models, preds, strict=True):
        cvs.append(cvrmse(m["use_base"], model.predict(base).to_numpy()))
        errs.append(savings_error(m, ps))
        r = savings(model, rep)
        err = abs(r.total["savings"] - (float(m["cf_rep"].sum()) - float(m["use_rep"].sum())))
        n_cov += 1
        cover["g14_68"] += err <= r.total["uncertainty_68"]
        cover["g14_90"] += err <= r.total["uncertainty_90"]
        if np.isfinite(r.total.get("uncertainty_model_68", float("nan"))):
            n_model += 1
            cover["model_68"] += err <= r.total["uncertainty_model_68"]
            cover["model_90"] += err <= r.total["uncertainty_model_90"]
    coverage = {k: v / (n_model if k.startswith("model") else n_cov) if (n_model or not k.startswith("model"))
                else float("nan") for k, v in cover.items()}
    coverage["model_n"] = n_model
    return {"times": times, "cvrmse": cvs, "savings_err_pp": errs, "coverage": coverage,
            "models": [md.model_type for md in models]}


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
    pv = (f"prediction-variance 68 % {cov['model_68']:.0%}, 90 % {cov['model_90']:.0%}" if cov["model_n"]
          else "prediction-variance: n/a (not computed for TOWT)")
    lines.append(f"emc interval coverage of true savings ({n_all} meters): G14 68 % {cov['g14_68']:.0%}, "
                 f"G14 90 % {cov['g14_90']:.0%}; {pv}")
    if ee:
        speed_med = med(ee["times"]) / med(emc_all["times"])
        speed_mean = float(np.mean(ee["times"]) / np.mean(emc_all["times"]))
        cv_ratio = med(emc_s["cvrmse"]) / med(ee["cvrmse"])
        lines.append(f"RATIOS vs {ee_name}: speed (median per meter) {speed_med:.0f}×, (mean) {speed_mean:.0f}× "
                     f"[target ≥ 100×]; median CV(RMSE) emc/eemeter {cv_ratio:.3f} [target ≤ 1.05]; "
                     f"median savings error emc {med(emc_s['savings_err_pp']):.3f} pp vs eemeter "
                     f"{med(ee['savings_err_pp']):.3f} pp [target: no worse]")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=1000, help="daily meters fitted with emc (default 1000)")
    ap.add_argument("--eemeter-meters", type=int, default=30, help="of those, how many eemeter fits (default 30)")
    ap.add_argument("--hourly-meters", type=int, default=100, help="hourly meters fitted with emc (default 100)")
    ap.add_argument("--eemeter-hourly-meters", type=int, default=10, help="hourly meters for eemeter (default 10)")
    ap.add_argument("--eemeter-hourly-caltrack", action="store_true",
                    help="also time eemeter's CalTRACK hourly model (several seconds per meter)")
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
    out_lines.append(f"\ntotal wall time {time.perf_counter() - t_start:.0f} s")
    print("\n".join(out_lines))
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
