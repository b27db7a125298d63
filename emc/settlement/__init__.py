"""Settlement: contract terms + verified savings + bills → money lines, stored, approved, paid and ledgered.

``core/`` is the pure part (plain data in, plain data out: no database, no web, no clock) — the engine and the
component rules (GB/T 24915-2020 App. A–C, GB/T 34149-2017, JS/T 301-2024); its package docstring lists them.
The shell beside it reads the database, calls the core and stores what it returns, one job per module:

``models``            the tables: settlements, their lines, payments, ledger entries, waits, snapshots, sources
``period_inputs``     a period's inputs read from the database: terms, tariffs, bills, M&V savings, prior state
``drafting``          draft a period (and its year-end true-up), store the core's result; the run-due job
``workflow``          submit / approve / reject / issue / pay / reverse a payment, countersign; reminders
``ledger``            the double-entry money ledger: postings, balances, and its invariants as data
``corrections``       data corrected after approval: flag the settlement, settle the difference as an adjustment
``economics_view``    the contract economics panel: known and projected ESCO cash → :mod:`.core.economics`
``provenance``        what an approved settlement used (settlement_source), and what follows when it changes
``portfolio``         the portfolio the bureau opens first: each contract's money and savings to date
``exports``           what finance takes away: a period's statements at once (PDFs + XLSX) and list exports
``ledger_export``     ledger entries and balances as CSV / Excel for the bureau's accounting
``verification``      checking a statement someone holds (/verify) by its verification code
``jobs``              the scheduled jobs (draft what is due, remind what is overdue)
``statements``        statement data for the PDF (reports); ``routes`` the pages and the API
"""
