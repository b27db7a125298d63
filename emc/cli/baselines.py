"""`emc baseline …` and `emc savings`: fit and approve baselines, report savings (ASHRAE Guideline 14 metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emc.cli.lookups import contract_by_code
from emc.cli_kit import JsonOpt, fail, migrated_engine, parse_period
from emc.db import session_scope

baseline_app = typer.Typer(help="Baselines (M&V): fit, approve, try a model on any CSV.", no_args_is_help=True)


def _baseline_json(b) -> dict:  # type: ignore[no-untyped-def]
    return {"contract_id": b.contract_id, "utility": b.utility, "version": b.version, "status": b.status,
            "granularity": b.granularity, "period": [b.period_start.isoformat(), b.period_end.isoformat()],
            "meters": b.meters, "model_type": b.model.get("model_type"), "metrics": b.metrics,
            "gates": b.model.get("gates"), "selection": b.model.get("selection", {}).get("reason"),
            "warnings": b.model.get("warnings"), "passes_gates": b.passes_gates, "disqualified": b.disqualified}


def _print_baseline(b) -> None:  # type: ignore[no-untyped-def]
    m = b.metrics
    typer.echo(f"{b.utility} v{b.version} [{b.status}] {b.granularity} {b.period_start}..{b.period_end} "
               f"meters {', '.join(b.meters)}")
    typer.echo(f"  model: {b.model.get('model_type')}")
    typer.echo(f"  CV(RMSE) {m.get('cvrmse', float('nan')):.3f}  NMBE {m.get('nmbe', float('nan')):+.4f}  "
               f"R² {m.get('r2', float('nan')):.3f}  n {m.get('n')}  p {m.get('p')}  "
               f"ρ1 {m.get('autocorr_lag1', float('nan')):.2f}  G14 gates {'passed' if b.passes_gates else 'FAILED'}")
    typer.echo(f"  why: {b.model.get('selection', {}).get('reason')}")
    for w in b.model.get("warnings", []):
        typer.echo(f"  warning {w.get('code')}: {w.get('message')}")


@baseline_app.command("fit")
def baseline_fit(contract: Annotated[str | None, typer.Argument(help="contract code (or --all)")] = None,
                 utility: Annotated[str | None, typer.Option(help="electricity | water | gas | heat; "
                                                                  "default: every utility")] = None,
                 granularity: Annotated[str | None, typer.Option(
                     help="hourly | daily | billing (default: from the data)")] = None,
                 all_: Annotated[bool, typer.Option("--all", help="every contract, fits in a process pool; "
                                                    "skips a utility whose data did not change")] = False,
                 workers: Annotated[int | None, typer.Option(help="with --all: processes (default: cores)")] = None,
                 force: Annotated[bool, typer.Option(help="with --all: refit unchanged data too")] = False,
                 as_json: JsonOpt = False) -> None:
    """Fit the contract's baseline period and store it as a proposed version."""
    from emc.baselines import service
    from emc.baselines.series import SeriesError

    if all_:
        if contract or utility or granularity:
            fail("--all fits every contract and utility with the granularity its data has; "
                 "leave out CONTRACT, --utility and --granularity")
        _fit_all(workers, force, as_json)
        return
    if not contract:
        fail("name a contract code, or use --all")
    out = []
    with session_scope(migrated_engine()) as session:
        c = contract_by_code(session, contract)
        for u in [utility] if utility else service.utilities(session, c):
            try:
                b = service.fit(session, c, u, actor="cli", granularity=granularity)
            except (service.BaselineError, SeriesError) as exc:
                fail(str(exc))
            out.append(b)
            if not as_json:
                _print_baseline(b)
        if as_json:
            typer.echo(json.dumps([_baseline_json(b) for b in out], ensure_ascii=False, indent=2, default=str))


def _fit_all(workers: int | None, force: bool, as_json: bool) -> None:
    from emc.baselines.bulk import fit_all

    report = fit_all(migrated_engine(), actor="cli", workers=workers, force=force)
    if as_json:
        typer.echo(json.dumps({
            "fitted": [{"contract": c, "utility": u, "version": v, "passes_gates": p} for c, u, v, p in report.fitted],
            "unchanged": [{"contract": c, "utility": u} for c, u in report.unchanged],
            "failed": [{"contract": c, "utility": u, "error": e} for c, u, e in report.failed]},
            ensure_ascii=False, indent=2))
    else:
        for c, u, v, p in report.fitted:
            typer.echo(f"fitted {c} {u} v{v}{'' if p else '  (fails the G14 gates)'}")
        for c, u, e in report.failed:
            typer.echo(f"failed {c} {u}: {e}")
        typer.echo(f"{len(report.fitted)} fitted, {len(report.unchanged)} unchanged, {len(report.failed)} failed")
    if report.failed:
        raise typer.Exit(1)


@baseline_app.command("approve")
def baseline_approve(contract: str, utility: Annotated[str, typer.Option()],
                     version: Annotated[int | None, typer.Option(help="default: the latest proposed")] = None,
                     reason: Annotated[str, typer.Option(help="required when the model fails the G14 gates")] = "",
                     reject: Annotated[bool, typer.Option("--reject", help="reject instead of approve")] = False,
                     ) -> None:
    """Approve (or --reject) a proposed baseline; approving supersedes the previous one."""
    from emc.baselines import service

    with session_scope(migrated_engine()) as session:
        c = contract_by_code(session, contract)
        candidates = [b for b in service.versions(session, c, utility)
                      if (version is None and b.status == "proposed") or b.version == version]
        if not candidates:
            which = f"{'proposed ' if version is None else ''}{utility} baseline"
            fail(f"no {which}{' v' + str(version) if version else ''} for {contract}")
        try:
            b = (service.reject if reject else service.approve)(session, candidates[0], actor="cli", reason=reason)
        except service.BaselineError as exc:
            fail(str(exc))
        typer.echo(f"{contract} {utility} v{b.version}: {b.status}")


@baseline_app.command("fit-file")
def baseline_fit_file(file: Path, granularity: Annotated[str, typer.Option(help="hourly | daily | billing")] = "daily",
                      as_json: JsonOpt = False) -> None:
    """Try the M&V engine on any CSV of timestamp, usage and temperature (°C); nothing is stored."""
    import pandas as pd

    from emc import mv

    try:
        frame = pd.read_csv(file)
    except (OSError, ValueError) as exc:
        fail(f"{file}: {exc}")
    cols = {c.lower().strip(): c for c in frame.columns}
    time_col = next((cols[k] for k in ("timestamp", "time", "date", "start") if k in cols), frame.columns[0])
    missing = [k for k in ("usage", "temperature") if k not in cols]
    if missing:
        fail(f"{file}: needs columns timestamp, usage, temperature; missing {', '.join(missing)} "
              f"(found {', '.join(frame.columns)})")
    frame = frame.rename(columns={cols["usage"]: "usage", cols["temperature"]: "temperature"})
    frame.index = pd.to_datetime(frame.pop(time_col))
    try:
        model = mv.fit_baseline(frame, granularity=granularity)
    except mv.MVInputError as exc:
        fail(f"{file}: {exc}")
    d = model.to_dict()
    if as_json:
        typer.echo(json.dumps({k: d[k] for k in ("model_type", "metrics", "gates", "selection", "warnings",
                                                  "segments")}, ensure_ascii=False, indent=2, default=str))
        return
    m = d["metrics"]
    typer.echo(f"model: {d['model_type']}\nCV(RMSE) {m['cvrmse']:.3f}  NMBE {m['nmbe']:+.4f}  R² {m['r2']:.3f}  "
               f"n {m['n']}  G14 gates {'passed' if d['gates'].get('passed') else 'FAILED'}\n"
               f"why: {d['selection'].get('reason')}")
    for w in d["warnings"]:
        typer.echo(f"warning {w.get('code')}: {w.get('message')}")


def savings_cmd(contract: str, period: Annotated[str, typer.Option(help="YYYY-MM, YYYY, or START..END (dates)")],
                utility: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Savings (adjusted baseline − actual, positive = saved) with their uncertainty, per month."""
    from emc.baselines import service
    from emc.baselines.series import SeriesError

    start, end = parse_period(period)
    results = {}
    with session_scope(migrated_engine()) as session:
        c = contract_by_code(session, contract)
        for u in [utility] if utility else service.utilities(session, c):
            try:
                report = service.compute_savings(session, c, u, start, end)
            except (service.BaselineError, SeriesError) as exc:
                fail(str(exc))
            results[u] = report.result.to_dict()
            if not as_json:
                t = report.result.total
                typer.echo(f"{u} (baseline v{report.baseline.version}, {report.granularity}): adjusted baseline "
                           f"{t.get('adjusted_baseline', float('nan')):,.1f}  "
                           f"actual {t.get('actual', float('nan')):,.1f}  "
                           f"savings {t.get('savings', float('nan')):,.1f} "
                           f"± {t.get('uncertainty_68', float('nan')):,.1f} (68 %)  "
                           f"G14 Annex B FSU68 {t.get('fsu_g14_68', float('nan')):.1%}")
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2, default=str))
