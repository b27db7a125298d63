"""Energy, water and carbon ledgers (issue 7; docs/domain.md §4).

Pure core (no database, no web): ``factors`` (standard-coal and CO₂ factors as versioned data, the choice rule),
``accounting`` (one institution-month-utility → kWh/m³, kgce, kgCO₂ by scope; PV; contract savings by carbon
rights; restatement), ``indicators``, ``targets``, ``season``, ``quotas``, ``rollup`` (attribution of contract
savings to institutions and roll-up through the region tree, counting nothing twice), ``settings`` and
``files``/``datafile`` (the TOML data files; seeds in ``seed/``).

Shell: ``models`` (tables), ``columns`` (the exact 0.001 figure column), ``sources`` (SQL aggregation of
readings and settlements), ``service`` (loading data files), ``ledger`` (rebuild, restate), ``alerts``
(over-quota warnings), ``queries`` (scoped reads, the dashboard), ``routes`` (JSON API), ``cli``, ``jobs``.
"""
