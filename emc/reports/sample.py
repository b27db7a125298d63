"""A realistic statement for tests, previews and the speed check.

    python -m emc.reports.sample out.pdf [--lines 40]   write one
    python -m emc.reports.sample --mv mv.pdf            write the annual M&V report
    python -m emc.reports.sample --bench [--lines 12]   statements per second on one core
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from decimal import Decimal

from emc.money import fen
from emc.reports.mv_report import CarbonRow, Gate, Guarantee, ModelSummary, Month, MVReport, UtilityResult
from emc.reports.statement import Adjustment, LineItem, Party, Rate, SavingsRow, Statement, render_statement

D = Decimal

INSTITUTION = Party("无锡市市民中心", "Wuxi Civic Centre", credit_code="12320200MB1234567X",
                    address="无锡市观山路1号")
LIBRARY = Party("无锡市图书馆", "Wuxi Library", credit_code="12320200466012345K")
ESCO = Party("江苏绿能节能服务有限公司", "Jiangsu Lyuneng Energy Services Co., Ltd.",
             credit_code="91320200MA1XYZ1234", bank="中国工商银行无锡分行营业部", account="1103 0200 0900 1234 567")

_MONTHS = ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"]


def sample_statement(lines: int = 40, *, number: str = "JS-WX-2024-0007",
                     amount_bump: Decimal = Decimal(0)) -> Statement:
    """A shared-savings statement over one year with `lines` money lines (monthly electricity, water, gas …)."""
    tariff = D("0.6520")
    share = D("0.80")
    items: list[LineItem] = []
    for i in range(lines):
        month = _MONTHS[i % 12]
        kind = i // 12 % 3
        if kind == 0:
            kwh = D(18000 + (i * 7919) % 9000)
            amount = fen(kwh * tariff * share)
            formula = f"节电量 {kwh:,} kWh × 电价 {tariff} 元/kWh × 乙方分享比例 80%"
            english = f"Electricity savings share, month {i % 12 + 1}"
            items.append(LineItem(f"{month}节电效益分享", formula, amount, english))
        elif kind == 1:
            m3 = D(600 + (i * 613) % 400)
            amount = fen(m3 * D("4.10") * share)
            formula = f"节水量 {m3:,} m³ × 水价 4.10 元/m³ × 乙方分享比例 80%"
            items.append(LineItem(f"{month}节水效益分享", formula, amount, f"Water savings share, month {i % 12 + 1}"))
        else:
            nm3 = D(900 + (i * 271) % 300)
            amount = fen(nm3 * D("3.25") * share)
            formula = f"节气量 {nm3:,} Nm³ × 气价 3.25 元/Nm³ × 乙方分享比例 80%"
            items.append(LineItem(f"{month}节气效益分享", formula, amount, f"Gas savings share, month {i % 12 + 1}"))
    shortfall = "保证节能量 250,000 kWh − 实际 248,760 kWh = 1,240 kWh × 电价 0.6520 元/kWh"
    items.append(LineItem("保证节能量差额扣减", shortfall, D("-808.48") + amount_bump, "Guarantee shortfall deduction"))
    return Statement(
        number=number,
        bureau="无锡市机关事务管理局",
        institutions=[INSTITUTION, LIBRARY],
        esco=ESCO,
        contract_code="WX-SMZX-2018",
        contract_name="市民中心及图书馆综合节能改造",
        contract_type="节能效益分享型",
        contract_type_en="Shared savings",
        period_start=date(2024, 1, 1),
        period_end=date(2024, 12, 31),
        issue_date=date(2025, 1, 20),
        due_date=date(2025, 2, 28),
        savings=[
            SavingsRow("电力", "Electricity", "kWh", D("2489310"), D("2240550"), D("248760"), D("21450")),
            SavingsRow("自来水", "Water", "m³", D("61230"), D("52870"), D("8360"), D("940")),
            SavingsRow("天然气", "Natural gas", "Nm³", D("148200"), D("135600"), D("12600"), None),
        ],
        adjustments=[
            Adjustment("电力", "新增档案库房恒温恒湿空调（2024-03 起）", D("-36500"), "kWh",
                       "非常规变化：新增用能设备，不属于节能改造范围，按实测分项电表从基准中扣除",
                       "甲乙双方会议纪要 2024-04-12 第3号"),
            Adjustment("自来水", "5月管网漏损维修期间用水", D("1200"), "m³", "一次性漏损，按 GB/T 24915 附录C 调整",
                       "维修工单 WX-2024-0518"),
        ],
        rates=[
            Rate("一般工商业电价（不满1千伏）", tariff, "元/kWh", "JS-2023-11", "tariff", "苏发改价格〔2023〕11号"),
            Rate("非居民用水价格", D("4.10"), "元/m³", "WX-W-2022", "tariff", "锡价〔2022〕5号"),
            Rate("非居民管道天然气价格", D("3.25"), "元/Nm³", "WX-G-2024-01", "tariff", "锡发改〔2024〕2号"),
            Rate("乙方节能效益分享比例", share, "—", "合同第5.2条", "factor", "合同 WX-SMZX-2018"),
            Rate("电力二氧化碳排放因子", D("0.5366"), "kgCO₂/kWh", "2022 全国电网", "factor",
                 "生态环境部公告2024年第12号"),
        ],
        lines=items,
        payer=INSTITUTION,
        payee=ESCO,
        payment_terms="甲方在收到本结算单及乙方开具的增值税发票后30日内，以银行转账方式支付至乙方上述账户。"
                      "Payable by bank transfer within 30 days of receiving this statement and the VAT invoice.",
        verification_code="7QK4-M2XD-91FP",
        verification_url="https://emc.example.gov.cn/verify/JS-WX-2024-0007?code=7QK4-M2XD-91FP",
        notes=["本期电力节能量不确定度 ±8.6%（90% 置信度），满足 ASHRAE Guideline 14 要求。",
               "天然气基准模型未通过 CV(RMSE) 检验，本期节气量按账单法计算。"],
    )


def sample_mv_report() -> MVReport:
    """An annual M&V report for the same contract: electricity (passes G14) and gas (fails CV(RMSE))."""
    base = [212000, 198000, 201000, 189000, 214000, 258000, 296000, 301000, 247000, 199000, 190000, 207000]
    cut = [Decimal("0.905"), Decimal("0.91"), Decimal("0.9"), Decimal("0.895"), Decimal("0.9"), Decimal("0.88"),
           Decimal("0.87"), Decimal("0.875"), Decimal("0.89"), Decimal("0.9"), Decimal("0.905"), Decimal("0.9")]
    power = [Month(date(2024, i + 1, 1), D(b), (D(b) * c).quantize(D(1)))
             for i, (b, c) in enumerate(zip(base, cut, strict=True))]
    gas = [Month(date(2024, i + 1, 1), D(g), D(g) - D(600 + 120 * (i % 4)))
           for i, g in enumerate([22100, 20500, 16300, 9800, 6100, 4200, 3900, 4000, 5600, 9900, 15800, 20800])]
    power_savings = sum((m.savings for m in power), D(0))
    gas_savings = sum((m.savings for m in gas), D(0))
    return MVReport(
        number="MV-WX-2024-01", contract_code="WX-SMZX-2018", contract_name="市民中心及图书馆综合节能改造",
        institutions=[INSTITUTION, LIBRARY], esco=ESCO, period_start=date(2024, 1, 1), period_end=date(2024, 12, 31),
        issue_date=date(2025, 1, 15),
        utilities=[
            UtilityResult("电力", "Electricity", "kWh",
                          ModelSummary("三参数制冷变点模型（3PC）", "月度账单 monthly billing", date(2017, 1, 1),
                                       date(2017, 12, 31), 12, 3, "0.93", "6.8%", "0.4%",
                                       [Gate("CV(RMSE)", "6.8%", "≤ 15%", True), Gate("|NMBE|", "0.4%", "≤ 5%", True),
                                        Gate("相对不确定度 FSU @68%", "5.3%", "≤ 50%", True)]),
                          power, power_savings, D("21450")),
            UtilityResult("天然气", "Natural gas", "Nm³",
                          ModelSummary("三参数采暖变点模型（3PH）", "月度账单 monthly billing", date(2017, 1, 1),
                                       date(2017, 12, 31), 12, 3, "0.71", "18.2%", "-1.1%",
                                       [Gate("CV(RMSE)", "18.2%", "≤ 15%", False),
                                        Gate("|NMBE|", "1.1%", "≤ 5%", True)]),
                          gas, gas_savings, None),
        ],
        adjustments=sample_statement(1).adjustments,
        guarantee=Guarantee("电力", "kWh", D("300000"), power_savings, fen((power_savings - 300000) * D("0.6520")),
                            f"保证节能量差额 {300000 - power_savings:,} kWh × 电价 0.6520 元/kWh，由乙方补偿甲方，"
                            "在本年度结算中扣减"),
        carbon=[CarbonRow("电力", power_savings, "kWh", D("0.5366"), "kgCO₂/kWh", "2022 全国电网平均",
                          (power_savings * D("0.5366") / 1000).quantize(D("0.01"))),
                CarbonRow("天然气", gas_savings, "Nm³", D("2.1622"), "kgCO₂/Nm³", "GB/T 32150-2015 附录B",
                          (gas_savings * D("2.1622") / 1000).quantize(D("0.01")))],
        notes=["天然气基准模型 CV(RMSE) 18.2% 超过 15% 限值，本年度节气量按账单对比法计算，"
               "仅供参考，不计入保证节能量。"],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", help="PDF file to write")
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--bench", action="store_true", help="measure statements per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--mv", metavar="PDF", help="write the sample annual M&V report")
    args = parser.parse_args(argv)
    if args.mv:
        from emc.reports.mv_report import render_mv_report

        with open(args.mv, "wb") as fh:
            fh.write(render_mv_report(sample_mv_report()))
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(render_statement(sample_statement(args.lines)))
    if args.bench:
        render_statement(sample_statement(args.lines))  # font registration and imports are not per statement
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            render_statement(sample_statement(args.lines, number=f"B-{count}"))
            count += 1
        elapsed = time.perf_counter() - start
        print(f"{count / elapsed:.1f} statements/s ({args.lines} lines, {count} in {elapsed:.1f} s, one core)")


if __name__ == "__main__":
    main()
