"""The carbon domain's pure core: plain data in, plain data out — no database, no web (a test checks it).

``factors`` (standard-coal and CO₂ factors as versioned data, the choice rule), ``accounting`` (one
institution-month-utility → kWh/m³, kgce, kgCO₂ by scope; PV; contract savings by carbon rights;
restatement), ``indicators``, ``targets``, ``season``, ``quotas``, ``coverage``, ``rollup`` (attribution of
contract savings to institutions and roll-up through the region tree, counting nothing twice),
``ledger_settings`` (a region's ledger choice, an institution's gas heating value) and ``carbon_file`` (the
one reader of carbon data files; seeds in ``emc/carbon/seed/``).
"""
