"""Reads of the carbon domain, grouped by what they read: ``inputs`` (meter readings and approved
settlements the ledger is built from), ``reference`` (loaded factors, quotas, targets, ledger settings),
``figures`` (sums of ledger entries), ``entries`` (entry and warning listings), ``standing`` (targets and
leaderboards) and ``dashboard`` (the city dashboard composed of them)."""
