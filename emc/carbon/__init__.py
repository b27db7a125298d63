"""Energy, water and carbon ledgers (issue 7; docs/domain.md §4).

Pure core in ``core/`` (no database, no web): factors, accounting, indicators, targets, quotas, season,
coverage, roll-up, ledger settings and the carbon data-file reader.

Shell: ``models`` (tables), ``loading`` (data files into tables), ``reads/`` (what is read, grouped by what:
ledger inputs, reference data, figures, entries, standing, dashboard), ``ledger`` (rebuild, restate),
``alerts`` (over-quota warnings), ``routes`` and ``pages`` (JSON API, pages), ``cli``, ``jobs``.
"""
