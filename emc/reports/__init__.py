"""Reports: settlement statements and annual M&V reports as PDFs, from plain data (no database, no web).

- `amounts`: 大写金额 and ¥ formatting
- `fonts`: the embedded TrueType CJK font (where it comes from and why)
- `pdf`: shared page furniture, table cells that wrap Chinese and Latin text, QR codes, byte-stable builds
- `statement`: 合同能源管理结算单 (`Statement` → `render_statement`)
- `mv_report`: 年度节能量测量与验证报告 (`MVReport` → `render_mv_report`)
- `sample`: realistic sample data; `python -m emc.reports.sample --help` (writes PDFs, measures speed)
- `cells`: spreadsheet cells that cannot run as formulas (CSV injection), for the exports

This package is the bottom of the reports: it imports only `emc.money`, so every domain may use it. The data
come from the assemblers above the domains they read: `emc.settlement.statements` (a settlement's statement)
and `emc.reporting` (the annual M&V report, which reads baselines, settlements and carbon).
"""
