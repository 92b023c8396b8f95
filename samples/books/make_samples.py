"""Generate the bundled sample books (``.venv/bin/python samples/books/make_samples.py``).

- ``hypertension_en.pdf``: an English book chapter in two columns, with a contents page, running
  heads, page numbers, a ruled table, a figure with labels, citations and footnote markers,
  references and an appendix; the outline lists its sections.
- ``tangniaobing_zh.pdf``: a Chinese chapter in one column without an outline (headings are found
  from their size and numbering), with a ruled table, running heads, page numbers and references.
  Its body font maps 目 to the Kangxi radical ⽬ and 长 to ⻓, puts digits in the private-use area
  (U+E000-U+E009) and the reference mark ※ at U+E0A5, as fonts of real textbooks do.

The text was written for curate. The PDFs are committed; this script is how they were made.

``defects(folder)`` writes two more files that reproduce what real books and papers do to text
extraction (the tests build them in a temporary folder; they are not part of the sample corpus):

- ``paper_en.pdf``: a two-column paper with authors, affiliations, a correspondence block with an
  e-mail address and a phone number, received/accepted dates and a licence note, a booktabs table
  in one column beside prose in the other, a figure with text labels and its caption, hyphenated
  compounds and split words at line ends, and a reference list that spills onto the next page;
- ``digits_zh.pdf``: a Chinese chapter whose font's ToUnicode map lacks the digits (extraction gives
  U+FFFD or raw glyph ids for them), with page numbers set in that font.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from typeset import A5, Book, Style  # noqa: E402

EN_TITLE = "Chapter 3 Hypertension in Adults"
EN_SECTIONS = [
    ("3.1 Definition and epidemiology", [
        "Hypertension is a persistent elevation of arterial blood pressure that raises the long-term risk of "
        "stroke, myocardial infarction, heart failure and chronic kidney disease. In most adults it produces "
        "no symptoms for many years, which is why it is often called a silent condition and why screening "
        "at every routine visit is worthwhile.",
        "Roughly one adult in three is affected worldwide, and the proportion rises steeply after the fifth "
        "decade of life [1]. Fewer than half of those affected know about their diagnosis, and only a "
        "minority reach their treatment target. Higher salt intake, physical inactivity and excess body "
        "weight account for a large share of the burden in urban populations.",
        "The risk attached to blood pressure is continuous. Each increment of twenty millimetres of mercury in "
        "systolic pressure roughly doubles cardiovascular mortality across the whole range seen in practice, "
        "so that thresholds for diagnosis are conventions chosen where the benefit of treatment clearly "
        "outweighs its burden.",
    ]),
    ("3.2 Pathophysiology", [
        "Blood pressure is the product of cardiac output and systemic vascular resistance. In primary "
        "hypertension the resistance of small arteries increases gradually while cardiac output stays "
        "normal, and the kidney resets the pressure at which it excretes sodium [2,3]. Activation of the "
        "renin-angiotensin-aldosterone system and of sympathetic nerves sustains the rise.",
        "Secondary causes explain a small but important fraction of cases. Primary aldosteronism, renal "
        "artery stenosis, obstructive sleep apnoea and certain medicines should be considered when the "
        "disease begins early, progresses quickly or resists three drugs.^{12} Recognising them matters because "
        "a targeted intervention can cure the underlying disorder.",
        "Over years, sustained pressure thickens the walls of small arteries, stiffens the aorta and "
        "enlarges the left ventricle. These structural changes amplify the pressure load on the heart, the "
        "brain and the kidney, and they explain why long-standing disease responds more slowly to treatment "
        "than disease found early.",
    ]),
    ("3.3 Diagnosis", [
        "The diagnosis rests on repeated measurements taken with a validated device, an appropriately "
        "sized cuff and the patient seated quietly for five minutes. A single raised reading is never "
        "sufficient; out-of-office measurement confirms the diagnosis and uncovers white-coat and masked "
        "hypertension.",
        "TABLE",
        "Every newly diagnosed patient needs a basic assessment of target organs and cardiovascular risk: "
        "serum creatinine with an estimated glomerular filtration rate, electrolytes, fasting glucose, a "
        "lipid profile, urine albumin and an electrocardiogram. Echocardiography is reserved for selected "
        "patients with suspected structural heart disease.",
    ]),
    ("3.4 Management", [
        "Treatment aims to lower the risk of complications rather than to normalise a number. For most "
        "adults the target is a pressure below 130/80 mmHg when it can be reached without troublesome "
        "adverse effects, and the plan is reviewed at each follow-up visit.",
        "FIGURE",
        "Shared decisions work better than instructions. Patients who understand why treatment continues "
        "after the numbers improve, and who measure their own pressure at home, keep taking their medicines "
        "for longer and reach their targets more often.",
    ]),
    ("3.4.1 Lifestyle measures", [
        "Reducing sodium intake, losing excess weight, moderating alcohol and exercising regularly each lower "
        "systolic pressure by several millimetres of mercury. These measures are recommended for every "
        "patient, including those who also take medication, and their effect adds up over months.",
        "A diet rich in vegetables, fruit, whole grains and low-fat dairy products lowers pressure further, "
        "and potassium-enriched salt substitutes help where kidney function is normal. Small, sustained "
        "changes that fit the household's habits last longer than ambitious plans.",
    ]),
    ("3.4.2 Drug therapy", [
        "Four classes are suitable for initial therapy: thiazide-like diuretics, calcium channel blockers, "
        "angiotensin-converting enzyme inhibitors and angiotensin receptor blockers [4-6]. Most patients "
        "need a combination of two drugs, preferably in a single pill, because adherence falls as the "
        "number of tablets grows. Blood pressure is checked again within four weeks of any change, and the "
        "follow-up interval lengthens once the target has been maintained.",
        "Resistant hypertension is defined as pressure above target despite three drugs at full doses, "
        "one of them a diuretic. Before a fourth agent is added, adherence, measurement technique and "
        "interfering substances such as nonsteroidal anti-inflammatory drugs deserve a careful review.",
    ]),
    ("3.5 Special populations", [
        "In older adults, treatment lowers the risk of stroke and dementia, but orthostatic hypotension and "
        "falls become more likely. Pressure is measured standing as well as seated, drugs are started at low "
        "doses, and the target is relaxed for frail patients with limited life expectancy.",
        "During pregnancy, angiotensin-converting enzyme inhibitors and receptor blockers are avoided because "
        "they harm the developing kidney. Labetalol, nifedipine and methyldopa are the usual choices, and a "
        "sudden rise after the twentieth week raises the question of pre-eclampsia.",
        "In chronic kidney disease with albuminuria, blocking the renin-angiotensin system slows the loss of "
        "filtration, provided that creatinine and potassium are checked within two weeks of each dose "
        "change. Diuretics are often needed because sodium retention drives the pressure up.",
    ]),
    ("3.6 Hypertensive emergencies", [
        "A hypertensive emergency is severe elevation of pressure with acute damage to the brain, heart, "
        "retina, kidney or large arteries. It requires admission, continuous monitoring and intravenous "
        "treatment, with a controlled reduction over hours rather than minutes to protect organ perfusion.",
        "Severe elevation without acute organ damage is far more common. It is usually caused by missed "
        "doses or untreated pain and anxiety, and it is managed by resuming or intensifying oral therapy "
        "with a review within a few days rather than by rapid lowering in the emergency department.",
    ]),
    ("3.7 Summary", [
        "Hypertension is common, usually silent and highly treatable. Accurate measurement, assessment of "
        "overall risk and a persistent, shared approach to treatment prevent a large share of strokes and "
        "heart attacks in the population.",
        "The greatest gains come from finding people who do not know that they are affected, from starting "
        "treatment without delay and from keeping it going for the rest of life.",
    ]),
]
EN_TABLE = ("Table 3.1 Blood pressure categories in adults", [
    ["Category", "Systolic (mmHg)", "Diastolic (mmHg)"],
    ["Optimal", "below 120", "below 80"],
    ["Elevated", "120-129", "below 80"],
    ["Grade 1", "130-139", "80-89"],
    ["Grade 2", "140 or more", "90 or more"],
])
EN_FIGURE = ("Figure 3.1 Mean systolic pressure during the first twelve weeks of combination treatment.",
             ["Systolic pressure axis", "Weeks since treatment start"])
EN_REFERENCES = [
    "1. Global Burden Collaborators. Worldwide trends in raised blood pressure. Sample Journal. 2021;1:1-10.",
    "2. Author A, Author B. Renal mechanisms of primary hypertension. Sample Review. 2019;4:22-31.",
    "3. Author C. Vascular resistance and ageing. Sample Journal. 2020;7:40-48.",
]
EN_APPENDIX = ("Appendix A: Home blood pressure monitoring", [
    "Patients measure their pressure twice each morning and evening for seven consecutive days, seated, "
    "after five minutes of rest, and discard the readings of the first day before averaging the rest.",
])
EN_CONTENTS = [
    ("Chapter 3 Hypertension in Adults", 41), ("3.1 Definition and epidemiology", 41),
    ("3.2 Pathophysiology", 41), ("3.3 Diagnosis", 42), ("3.4 Management", 42),
    ("3.5 Special populations", 44), ("3.6 Hypertensive emergencies", 45), ("3.7 Summary", 45), ("References", 46),
    ("Appendix A: Home blood pressure monitoring", 46),
]
EN_HEADS = ("Handbook of Internal Medicine", "Chapter 3 Hypertension in Adults")


def english() -> Book:
    """The English two-column chapter."""
    book = Book(style=Style(page=A5, margin=40.0, gutter=14.0, size=11.0, leading=14.5), heads=EN_HEADS,
                first_number=40)
    book.new_page(head=False)
    book.toc.append([1, "Contents", 1])
    book._write(40, 80, "Contents", 14, bold=True)
    for i, (title, page) in enumerate(EN_CONTENTS):
        dots = "." * max(3, int((300 - book._width(title, 9)) / book._width(".", 9)))
        book._write(40, 110 + 16 * i, f"{title} {dots} {page}", 9)
    book.chapter(EN_TITLE)
    for title, paragraphs in EN_SECTIONS:
        book.heading(title, level=title.count(".") + 1)
        for p in paragraphs:
            if p == "TABLE":
                book.table(*EN_TABLE)
            elif p == "FIGURE":
                book.figure(*EN_FIGURE)
            else:
                book.paragraph(p)
    book.heading("References", level=1, size=11.5)
    for ref in EN_REFERENCES:
        book.paragraph(ref, size=8.0, indent=False)
    book.heading(EN_APPENDIX[0], level=1, size=11.5)
    for p in EN_APPENDIX[1]:
        book.paragraph(p)
    return book


ZH_TITLE = "第五章 糖尿病"
ZH_SECTIONS = [
    ("第一节 概述", [
        "糖尿病是一组以慢性高血糖为特征的代谢性疾病，由胰岛素分泌不足、胰岛素作用缺陷或两者同时存在引起。"
        "长期高血糖可导致眼、肾、神经、心脏和血管等多种组织器官的慢性损害和功能障碍。",
        "近三十年来我国糖尿病患病率显著上升，目前成人患病率已超过十分之一，其中多数为2型糖尿病。"
        "相当一部分患者并不知道自己患病，因此在高危人群中开展筛查具有重要意义。",
        "按照病因和发病机制，糖尿病可分为1型糖尿病、2型糖尿病、妊娠期糖尿病和特殊类型糖尿病四大类。"
        "1型糖尿病以胰岛β细胞破坏导致胰岛素绝对缺乏为特点，多见于儿童和青少年；"
        "2型糖尿病则以胰岛素抵抗伴胰岛素相对不足为主，与肥胖、少动和遗传背景密切相关。",
    ]),
    ("第二节 临床表现", [
        "典型症状为多饮、多尿、多食和体重下降，即所谓三多一少。许多2型糖尿病患者起病隐匿，"
        "仅在体检或因其他疾病就诊时发现血糖升高，部分患者首次就诊时已出现视网膜病变或蛋白尿等并发症。",
        "※注意：老年患者口渴感减退，即使血糖明显升高也可能没有多饮表现，应结合实验室检查综合判断。",
        "急性并发症包括糖尿病酮症酸中毒和高渗高血糖综合征，常由感染、停用胰岛素或饮食失控诱发，"
        "表现为恶心、呕吐、意识改变和严重脱水，需要立即住院抢救。"
        "慢性并发症主要累及大血管和微血管，是糖尿病患者致残和死亡的主要原因。",
        "糖尿病视网膜病变是成年人失明的重要原因，糖尿病肾病可逐渐进展为终末期肾病，"
        "周围神经病变和下肢血管病变共同导致糖尿病足，严重者需要截肢。因此应当定期筛查眼底、尿白蛋白和足部情况。",
    ]),
    ("第三节 诊断", [
        "诊断依据静脉血浆葡萄糖或糖化血红蛋白测定，不能以指尖血糖仪的结果作为诊断依据。"
        "无典型症状者需要改日复查以确认诊断。",
        "口服葡萄糖耐量试验应在清晨空腹进行，试验前三天保持正常饮食，试验过程中不喝茶、不吸烟、不做剧烈运动。"
        "应激状态下可出现一过性血糖升高，急性感染、创伤或手术后的血糖结果不能作为诊断依据，应在应激消除后复查。",
        "TABLE",
        "确诊后应评估胰岛功能、并发症和合并症情况，明确分型，为制定个体化治疗方案提供依据。",
    ]),
    ("第四节 治疗", [
        "治疗目标是控制高血糖、纠正代谢紊乱、防止急性并发症并延缓慢性并发症的发生和发展。"
        "健康教育、医学营养治疗、运动治疗、血糖监测和药物治疗是综合管理的五个要点。",
        "二甲双胍是2型糖尿病患者首选的口服降糖药物，若无禁忌证应一直保留在治疗方案中。"
        "合并动脉粥样硬化性心血管疾病或慢性肾脏病的患者，可优先选用具有器官保护证据的药物。",
        "当口服药物联合治疗仍不能使血糖达标，或者出现明显的高血糖症状时，应及时启动胰岛素治疗。"
        "胰岛素治疗期间需要加强血糖监测，并教育患者识别和处理低血糖反应。",
        "血糖控制目标应当个体化。对于病程较短、预期寿命较长且没有严重并发症的患者，可以采用较严格的目标；"
        "对于老年人、反复发生低血糖或合并严重疾病的患者，目标可以适当放宽，以安全为首要原则。",
    ]),
]
ZH_PREVENTION = ("第五节 并发症的预防", [
    "预防慢性并发症的关键在于全面控制危险因素，包括血糖、血压、血脂和体重，并坚持戒烟。"
    "多项长期随访研究表明，早期强化控制血糖可以持续降低微血管并发症的风险，这种获益在停止强化治疗后仍可维持多年。",
    "每年至少进行一次全面的并发症筛查，内容包括眼底检查、尿白蛋白与肌酐比值、神经病变评估和足部检查。"
    "对已经出现足部溃疡的患者，应由多学科团队共同处理，尽量保全肢体。",
    "妊娠前已患糖尿病的妇女应在计划怀孕前将血糖控制在接近正常的水平，并评估视网膜和肾脏情况。"
    "妊娠期间胰岛素是控制血糖的首选药物，分娩后需要重新评估糖代谢状态，并在产后长期随访。",
    "患者教育贯穿糖尿病管理的全过程。医护人员应帮助患者掌握自我血糖监测、胰岛素注射、足部护理和低血糖处理等技能，"
    "鼓励家属共同参与，使患者能够在日常生活中长期坚持健康的行为方式。",
])
ZH_TABLE = ("表5-1 糖尿病的诊断标准", [
    ["诊断项目", "静脉血浆葡萄糖或指标"],
    ["典型症状加随机血糖检测", "不低于十一点一"],
    ["空腹血糖检测结果", "不低于七点零"],
    ["葡萄糖负荷后两小时血糖", "不低于十一点一"],
])
ZH_REFERENCES = [
    "[1] 示例作者. 成人糖尿病防治指南示例. 示例医学杂志, 2020, 1: 1-20.",
    "[2] 示例作者. 糖尿病流行病学调查示例. 示例医学杂志, 2021, 2: 21-30.",
]
ZH_HEADS = ("内科学（第2版）", "第五章 糖尿病")
ZH_FONT_QUIRKS = {"目": 0x2F6C, "长": 0x2ED3, "※": 0xE0A5, **{str(d): 0xE000 + d for d in range(10)}}


def chinese() -> Book:
    """The Chinese single-column chapter (no outline)."""
    book = Book(cjk=True, style=Style(page=(340.0, 480.0), columns=1, margin=36.0, size=10.0, leading=16.0,
                                      indent=20.0, para_gap=3.0),
                heads=ZH_HEADS, first_number=87, number_format="· {} ·")
    book.chapter(ZH_TITLE, size=20.0)
    for title, paragraphs in ZH_SECTIONS:
        book.heading(title, size=14.0, outline=False)
        for p in paragraphs:
            if p == "TABLE":
                book.table(*ZH_TABLE, size=9.0)
            else:
                book.paragraph(p)
    book.heading(ZH_PREVENTION[0], size=14.0, outline=False)
    for p in ZH_PREVENTION[1]:
        book.paragraph(p)
    book.heading("参考文献", size=14.0, outline=False)
    for ref in ZH_REFERENCES:
        book.paragraph(ref, size=9.0, indent=False)
    book.toc = []  # this book has no outline: headings come from type size and numbering
    return book


PAPER_FRONT = [
    "Anna Berg1, Carlos Mendes2 and Li Wei1*",
    "1Department of Medicine, University Hospital North, 12 Harbour Road, Bergen, Norway",
    "2Institute of Public Health, University of Lisbon, Lisbon, Portugal",
    "*Correspondence: anna.berg@example.org; Tel: +47 5597 1234",
    "Received 3 March 2021; Accepted 9 June 2021",
    "© 2021 The Authors. This is an open access article under the Creative Commons Attribution licence.",
]
PAPER_BODY = [
    "Self-reported adherence to antihypertensive treatment is an arbitrary measure of what patients do at "
    "home, yet it remains the most common instrument in primary care. We compared N-domain-selective "
    "inhibitors with standard therapy in a cohort of older adults and recorded long-term outcomes at every "
    "follow-up visit.",
    "Patients were recruited from eleven practices between 2015 and 2018. Blood pressure was measured three "
    "times at each visit, and the mean of the last two readings was used. The primary outcome was the "
    "change in systolic pressure after twelve months of treatment.",
    "TABLE",
    "Adherence was similar in both groups. Patients who reported missing doses had higher systolic "
    "pressure at twelve months, and the difference was larger in those living alone. Nurses contacted "
    "every patient who missed two consecutive visits.",
    "FIGURE",
    "The effect of the selective inhibitors persisted after adjustment for age, sex and baseline pressure. "
    "Adverse events were rare and mild in both groups, and no patient stopped treatment because of them.",
    "Structured follow-up with home measurement is feasible in primary care and improves the control of "
    "blood pressure in older adults without adding to the burden of visits.",
]
PAPER_TABLE = ("Table 2. Baseline characteristics", [
    ["Variable", "Inhibitor", "Standard"], ["Age, years", "67.7", "68.1"], ["Women, %", "52.3", "49.8"],
    ["Systolic, mmHg", "152.4", "151.9"], ["Diabetes, %", "21.0", "19.6"]])
PAPER_REFERENCES = [f"[{i}] Author A, Author B. Title of a cited study number {i}. J Clin Hypertens. "
                    f"20{10 + i};{i + 3}:{100 + i}-{110 + i}." for i in range(1, 15)]


def paper() -> Book:
    """A two-column paper with front matter, a table beside prose, a labelled figure and references."""
    book = Book(style=Style(page=A5, margin=36.0, gutter=14.0, size=9.0, leading=11.5), heads=("J Prim Care", ""),
                first_number=101)
    book.chapter("Home measurement in older adults with hypertension", size=13.0)
    for line in PAPER_FRONT:
        book.paragraph(line, size=7.0, indent=False)
    book.heading("Abstract", level=1)
    book.paragraph(PAPER_BODY[0])
    book.heading("Methods", level=1)
    for p in PAPER_BODY[1:]:
        if p == "TABLE":
            book.table(*PAPER_TABLE, size=7.0)
        elif p == "FIGURE":
            book.figure("Fig. 3 Systolic pressure by visit", ["baseline", "month 6", "month 12"])
        else:
            book.paragraph(p)
    book.heading("References", level=1)
    for ref in PAPER_REFERENCES:
        book.paragraph(ref, size=7.0, indent=False)
    return book


ZH_DIGITS_TEXT = [
    "高血压患者每日食盐摄入量应控制在5克以下，每周进行150分钟中等强度运动。",
    "起始剂量通常为每日1～2片，2周后复查血压，必要时在4周内调整剂量。",
    "65岁以上患者的目标血压可适当放宽至150/90毫米汞柱以下。",
    "随访期间每3个月检测一次血钾和肌酐，连续12个月。",
]


def private_digits() -> Book:
    """A Chinese chapter whose font's ToUnicode lacks the digits; page numbers in that font."""
    book = Book(cjk=True, style=Style(page=(340.0, 480.0), columns=1, margin=36.0, size=10.0, leading=16.0,
                                      indent=20.0, para_gap=3.0),
                heads=("内科学", "第三章 高血压"), first_number=7, numbers_in_body_font=True)
    book.chapter("第三章 高血压", size=18.0)
    for k in range(6):
        book.heading(f"第{'一二三四五六'[k]}节 治疗要点", size=13.0, outline=False)
        for p in ZH_DIGITS_TEXT:
            book.paragraph(p)
    book.toc = []
    return book


def defects(folder: Path) -> dict[str, Path]:
    """Write the defect samples into ``folder``; return their paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"paper_en": folder / "paper_en.pdf", "digits_zh": folder / "digits_zh.pdf"}
    paper().save(str(out["paper_en"]), "Home measurement in older adults")
    private_digits().save(str(out["digits_zh"]), "内科学：高血压", to_unicode=dict.fromkeys("0123456789"))
    return out


def main() -> None:
    """Write both sample books next to this script."""
    english().save(str(HERE / "hypertension_en.pdf"), "Handbook of Internal Medicine: Hypertension")
    chinese().save(str(HERE / "tangniaobing_zh.pdf"), "内科学：糖尿病", to_unicode=ZH_FONT_QUIRKS)


if __name__ == "__main__":
    main()
