"""Baselines of contracts: fitted with the M&V engine (emc.mv), versioned, approved, adjusted, and the
savings of reporting periods computed from them."""
