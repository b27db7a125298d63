"""Engine data in the reader's language: a settlement's inputs as a labelled table, warnings by code.

The pure cores keep their messages as data (a code, parameters and an English text for the API and logs,
docs/design.md convention 4); this module turns them into the page's language at the edge. Internal keys
(``custody.electricity.actual_cost``) never reach the page: every part of a key is looked up in the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from emc.i18n import Translator

MONEY_FIELDS = {"cost", "actual_cost", "fee", "esco_margin", "year_fee", "settled_fee", "esco_costs"}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_BILLS = re.compile(r"(\d+) bills?, import (\d+)")
_SOURCE = re.compile(r"baseline (\w+) v(\d+)")
_BILL_KEY = re.compile(r"bill\.(\w+)\.(.+)\.(quantity|cost|tariff_version)")


def component_labels(spec: Mapping[str, Any], _: Translator) -> dict[str, str]:
    """Each contract component's key → the name a reader knows it by (its label, else its kind)."""
    return {str(c.get("key")): str(c.get("label") or _("kind." + str(c.get("kind"))))
            for c in spec.get("components", [])}


def period_text(value: str, _: Translator) -> str:
    """An exclusive ISO interval (``2025-04-01/2025-05-01``) as inclusive dates: 2025-04-01 至 2025-04-30."""
    try:
        start, end = (date.fromisoformat(part) for part in value.split("/"))
    except ValueError:
        return value
    return _("input.period_span", start=start.isoformat(), end=(end - timedelta(days=1)).isoformat())


def _value(field: str, value: Any, _: Translator) -> str:
    if isinstance(value, list | tuple):
        return "、".join(_value(field, v, _) for v in value)
    text = str(value)
    if field == "contract_versions" or (field in ("tariff_version", "tariff_versions")):
        return "、".join(part.strip() for part in text.split(","))
    if field == "confidence" and _NUMBER.fullmatch(text):
        return f"{float(text) * 100:.0f}%"
    if field == "bills":
        found = _BILLS.findall(text)
        return "、".join(_("input.bills_ref", n=n, batch=b) for n, b in found) if found else text
    if m := _SOURCE.fullmatch(text):
        return _("input.baseline_ref", utility=_("utility." + m.group(1)), version=m.group(2))
    if _NUMBER.fullmatch(text):
        digits = len(text.split(".")[1]) if "." in text else 0
        return _.money(text) if field in MONEY_FIELDS else _.number(text, digits)
    return text


def _field(field: str, _: Translator) -> str:
    return _.label("input.savings_field" if field == "savings" else "input." + field, field)


def _utility(part: str, _: Translator) -> str:
    return _.label("utility." + part, part)


def input_rows(inputs: Mapping[str, Any], components: Mapping[str, str], _: Translator) -> list[tuple[str, str]]:
    """A settlement's inputs as (label, value) rows, in the order the engine recorded them."""
    rows: list[tuple[str, str]] = []
    for key, value in inputs.items():
        if key == "period":
            rows.append((_("input.period"), period_text(str(value), _)))
            continue
        if m := _BILL_KEY.fullmatch(key):
            utility, ref, field = m.groups()
            ref_text = _value("bills", ref, _)
            rows.append((f"{_('input.bill')} · {_utility(utility, _)} · {ref_text} · {_field(field, _)}",
                         _value(field, value, _)))
            continue
        parts = key.split(".")
        head, field = parts[0], parts[-1]
        if len(parts) == 1:
            rows.append((_field(head, _), _value(head, value, _)))
            continue
        group = _("input.savings") if head == "savings" else components.get(head) or _.label("input." + head, head)
        middle = [_utility(p, _) for p in parts[1:-1]]
        rows.append((" · ".join([group, *middle, _field(field, _)]), _value(field, value, _)))
    return rows


def warning_text(warning: Mapping[str, Any], _: Translator) -> str:
    """A stored settlement warning in the page's language (its English message when the code is unknown)."""
    params = dict(warning.get("params") or {})
    if "utility" in params:
        params["utility"] = _utility(str(params["utility"]), _)
    fallback = str(warning.get("message", ""))
    code = str(warning.get("code"))
    # one code may have messages of different shapes: the catalog names them by their parameters
    return _.message(f"warning.{code}.{'_'.join(sorted(params))}", "", **params) or \
        _.message(f"warning.{code}", fallback, **params)


def action_label(action: str, _: Translator) -> str:
    """An audit action (``settlement.approve``) as a reader says it."""
    return _.label("action." + action, action)


def value_label(param: str, value: Any, _: Translator) -> str:
    """A contract term's value as a reader says it: enumerated values (``annual``, ``esco_pays``,
    ``price_tariffs``) by their label, lists joined, mappings of utilities by the utility's name."""
    if isinstance(value, Mapping):
        return "；".join(f"{_value_key(k, _)}：{value_label(param, v, _)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "、".join(value_label(param, v, _) for v in value)
    if isinstance(value, bool):
        return _("value.true" if value else "value.false")
    text = str(value)
    if re.fullmatch(r"[a-z][a-z0-9_]*", text):
        return _.label(f"value.{param}.{text}", "") or _.label("value." + text, text)
    if re.fullmatch(r"-?\d{5,}(\.\d+)?|-?\d+\.\d+", text):  # 16179328.00 → 16,179,328.00 (a year stays 2018)
        return _.number(Decimal(text), len(text.partition(".")[2]))
    return text


def _value_key(key: Any, _: Translator) -> str:
    return _.label("utility." + str(key), "") or _.label("param." + str(key), str(key))


# -- M&V: model names, selection reasons, warnings ---------------------------------------------------------

def model_label(model_type: str, _: Translator) -> str:
    """A baseline model's form: 三参数制冷变点模型（3PC）＋工作日变量 in Chinese, ``3PC + workday`` in English;
    "split by day type: workday 5P | non-workday 3PC" → 按日类型分段：工作日 …；非工作日 …"""

    def one(form: str) -> str:
        base, _sep, suffix = form.strip().partition(" + ")
        name = _.label("model." + base, base)
        extra = _.label("model.plus_" + suffix, "+ " + suffix) if suffix else ""
        return name + extra

    if model_type.startswith("split by day type:"):
        work, _sep, off = model_type.split(":", 1)[1].partition("|")
        return _("model.split", workday=one(work.strip().removeprefix("workday ")),
                 offday=one(off.strip().removeprefix("non-workday ")))
    return one(model_type)


def _bic(value: Any) -> str:
    return f"{float(value):.1f}"


def selection_text(selection: Mapping[str, Any], _: Translator) -> str:
    """Why a baseline model was chosen, from the selection's candidate table (emc.mv.selection's rule, worded)."""
    reason = str(selection.get("reason", ""))
    chosen_name = selection.get("chosen")
    if chosen_name == "TOWT":
        m = re.search(r"(\d+) of 168", reason)
        return _.message("selection.towt", reason, occupied=m.group(1) if m else "?")
    ok = [c for c in selection.get("candidates", []) if c.get("qualified") and c.get("bic") is not None]
    chosen = next((c for c in ok if c.get("name") == chosen_name), None)
    if chosen is None:
        return _.message("selection.none", reason)
    best = min(ok, key=lambda c: (c["bic"], c["p"]))
    params = {"chosen": model_label(chosen["name"], _), "bic": _bic(chosen["bic"]), "p": chosen["p"],
              "best": model_label(best["name"], _), "best_bic": _bic(best["bic"]), "best_p": best["p"]}
    if chosen is not best:
        return _.message("selection.simpler", reason, **params)
    others = [c for c in ok if c is not best]
    if not others:
        return _.message("selection.lowest", reason, **params)
    nxt = min(others, key=lambda c: c["bic"])
    return _.message("selection.lowest_next", reason, next=model_label(nxt["name"], _), next_bic=_bic(nxt["bic"]),
                     next_p=nxt["p"], **params)


def mv_warning_text(warning: Mapping[str, Any], _: Translator) -> str:
    """An M&V finding (emc.mv.warning.MVWarning as stored) in the page's language."""
    params: dict[str, Any] = {k: v for k, v in (warning.get("detail") or {}).items()}
    if warning.get("value") is not None:
        params["value"] = warning["value"]
    params.update({k: str(warning.get(k) or "")[:10] for k in ("period_start", "period_end")})
    if "granularity" in params:
        params["granularity"] = _.label("granularity." + str(params["granularity"]), str(params["granularity"]))
    if isinstance(params.get("years"), list):
        params["years"] = "、".join(str(y) for y in params["years"])
    return _.message("mvwarning." + str(warning.get("code")), str(warning.get("message", "")), **params)


_FLAGS = [
    (re.compile(r"(\d+) reading\(s\) corrected after approval; settle the difference as an adjustment"),
     "flag.corrected", ("n",)),
    (re.compile(r"adjusted by nothing: (.*) gave the same amounts"), "flag.same_amounts", ("what",)),
    (re.compile(r"adjusted by (\S+)"), "flag.adjusted_by", ("number",)),
    (re.compile(r"(.*?): (.*)", re.S), "flag.changed", ("what", "reason")),
]


def flag_text(flag: str, _: Translator) -> str:
    """Why an approved settlement is flagged (as emc.settlement.corrections and provenance word it), worded in
    the page's language; the data change and the user's reason inside it are shown as recorded."""
    for pattern, key, names in _FLAGS:
        if m := pattern.fullmatch(flag):
            return _.message(key, flag, **dict(zip(names, m.groups(), strict=True)))
    return flag
