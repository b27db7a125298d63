"""Units of physical quantities and their conversions (to the meter's or the canonical unit).

Factors are exact by definition (1 MWh = 1000 kWh; 1 t of water = 1 m³ at the accuracy of a
water meter). Standard-coal and CO₂ factors are *not* here: they are versioned data (carbon domain).
"""

from __future__ import annotations

import re

# unit → (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "kWh": ("energy", 1.0),
    "MWh": ("energy", 1000.0),
    "Wh": ("energy", 0.001),
    "GJ": ("heat", 1.0),
    "MJ": ("heat", 0.001),
    "m3": ("volume", 1.0),
    "t": ("volume", 1.0),  # water: 1 t ≈ 1 m³ (water-meter practice in Chinese bills)
    "L": ("volume", 0.001),
    "Nm3": ("volume", 1.0),  # gas billed at normal conditions
}

# How files write units → our spelling.
_ALIASES = {
    "kwh": "kWh", "千瓦时": "kWh", "度": "kWh", "kw·h": "kWh", "kw.h": "kWh", "kw*h": "kWh",
    "mwh": "MWh", "兆瓦时": "MWh", "wh": "Wh",
    "gj": "GJ", "mj": "MJ",
    "m3": "m3", "m³": "m3", "立方米": "m3", "方": "m3", "立方": "m3",
    "t": "t", "吨": "t", "l": "L", "升": "L",
    "nm3": "Nm3", "nm³": "Nm3", "标方": "Nm3",
}


class UnitError(ValueError):
    pass


def normalise_unit(text: str) -> str | None:
    """Our spelling of a unit as written in a file, or None if it is not a unit we know."""
    cleaned = text.strip().replace(" ", "")
    if cleaned in _UNITS:
        return cleaned
    return _ALIASES.get(cleaned.lower())


def factor(source: str, target: str) -> float:
    """Multiply a quantity in ``source`` by this to get it in ``target``."""
    try:
        dim_s, f_s = _UNITS[source]
        dim_t, f_t = _UNITS[target]
    except KeyError as exc:
        raise UnitError(f"unknown unit {exc.args[0]!r}") from exc
    if dim_s != dim_t and {dim_s, dim_t} != {"energy", "heat"}:
        raise UnitError(f"cannot convert {source} to {target}")
    if dim_s != dim_t:  # kWh ↔ GJ for heat meters: 1 kWh = 0.0036 GJ
        return (f_s * 0.0036 / f_t) if dim_s == "energy" else (f_s / 0.0036 / f_t)
    return f_s / f_t


def fahrenheit_to_celsius(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


_PRETTY = ((re.compile(r"(?<![A-Za-z])(N?m)3(?![0-9])"), r"\1³"), (re.compile(r"(?<![A-Za-z])m2(?![0-9])"), "m²"),
           (re.compile(r"CO2(?![0-9])"), "CO₂"), (re.compile(r"^C$"), "°C"))


def pretty(unit: str | None) -> str:
    """A unit as people read it (our codes are ASCII: ``m3``, ``Nm3``, ``kgCO2/m3``, ``C``): m³, Nm³, kgCO₂/m³, °C."""
    text = unit or ""
    for pattern, replacement in _PRETTY:
        text = pattern.sub(replacement, text)
    return text


_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_])(N?m)([23])(?![0-9A-Za-z_])")


def pretty_text(text: str | None) -> str:
    """Free text (a contract's notes, a component's label, a tariff's source) with its m3 and m2 written m³ and m²
    on the page; the stored text, and so the contract file's terms and digest, stay as written."""
    return _IN_TEXT.sub(lambda m: m.group(1) + ("³" if m.group(2) == "3" else "²"), text or "")


# The unit each utility's quantities are shown in (meters in MWh or t are converted to these on import).
UTILITY_UNITS = {"electricity": "kWh", "water": "m³", "gas": "m³", "heat": "GJ", "pv": "kWh"}


def utility_unit(utility: str) -> str:
    return UTILITY_UNITS.get(utility, "")
