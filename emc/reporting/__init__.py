"""Reports that read across domains, assembled from stored data; the layer above settlement, baselines and carbon.

Data flows one way: these assemblers read the domains' tables and services and hand plain dataclasses to the
pure PDF kit in :mod:`emc.reports`, which draws them. Nothing below imports this package; the web and the CLI
call it.

- `annual_report`: 年度节能量测量与验证报告 — the annual M&V report of a contract year (IPMVP, ASHRAE G14)
"""
