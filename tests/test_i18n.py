"""Both UI languages carry every message the templates use."""

import re
from pathlib import Path

from emc.web.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent


def test_catalogs_have_the_same_keys() -> None:
    assert set(catalog("zh")) == set(catalog("en"))


def test_every_literal_key_used_in_templates_exists() -> None:
    used = set()
    for path in (ROOT / "templates").rglob("*.html"):
        used |= set(re.findall(r"""_\(\s*["']([a-z_]+\.[a-z_]+)["']\s*[,)]""", path.read_text(encoding="utf-8")))
    assert used, "templates use message keys"
    missing = used - set(catalog("zh"))
    assert not missing, f"keys used in templates but missing from the catalogs: {sorted(missing)}"


def test_every_enum_value_shown_on_pages_has_a_label() -> None:
    from emc.contracts.spec import CarbonRights, ContractType, Frequency
    from emc.kinds import InstitutionCategory, RegisterType, Utility
    from emc.metering.models import BatchStatus
    from emc.org.models import Role

    wanted = {f"type.{v.value}" for v in ContractType} | {f"freq.{v.value}" for v in Frequency} \
        | {f"carbon.{v.value}" for v in CarbonRights} | {f"register.{v.value}" for v in RegisterType} \
        | {f"utility.{v.value}" for v in Utility} | {f"category.{v.value}" for v in InstitutionCategory} \
        | {f"role.{v.value}" for v in Role} | {f"status.{s}" for s in ("upcoming", "active", "ended")} \
        | {f"kind.{k}" for k in ("shared_savings", "guaranteed_savings", "cost_custody", "lease", "fixed_fee")} \
        | {f"batch.{v.value}" for v in BatchStatus} | {f"layout.{v}" for v in ("long", "wide", "bills")} \
        | {f"severity.{v}" for v in ("error", "warning")} | {"imports.kind_meter", "imports.kind_weather"} \
        | {"imports.mode_only_new", "imports.mode_replace"}
    assert wanted <= set(catalog("zh")) and wanted <= set(catalog("en"))


def test_numbers_are_grouped_as_babel_formats_them_in_both_languages() -> None:
    """emc.i18n.grouped (every number on a page, a tooltip, a statement) against Babel's CLDR formatting, the
    reference it replaced for speed: the same text for every language, size, sign and precision."""
    import random
    from decimal import ROUND_HALF_UP, Decimal

    from babel.numbers import format_decimal

    from emc.i18n import BABEL_LOCALES, LANGUAGES, Translator, grouped

    rng = random.Random(7)
    values = [Decimal(0), Decimal("-0.004"), Decimal("0.005"), Decimal("-0.005"), Decimal("999.995"),
              Decimal("1234567.125"), Decimal("-1000"), Decimal("1E+9"), Decimal("12345678901234.5678")]
    values += [Decimal(str(round(rng.uniform(-1, 1) * 10 ** rng.randint(0, 12), rng.randint(0, 6))))
               for _ in range(2000)]
    for lang in LANGUAGES:
        for value in values:
            for digits in (0, 1, 2, 3):
                q = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
                fmt = "#,##0" + ("." + "0" * digits if digits else "")
                expected = format_decimal(abs(q) if q == 0 else q, format=fmt, locale=BABEL_LOCALES[lang])
                assert grouped(value, digits, lang) == expected, (lang, value, digits)
        assert Translator(lang).money(Decimal("-0.001")) == "0.00"
        assert Translator(lang).number(float("nan")) == "—"
