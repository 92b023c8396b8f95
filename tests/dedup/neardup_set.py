"""A labelled near-duplicate set: base documents in English and Chinese, each with one copy mutated
(word swaps, deletions, insertions, replacements, paragraph reordering) down to a chosen Jaccard
similarity of 5-token shingles, measured exactly with curate's own shingling.

``make_pairs(n, seed)`` returns ``Pair`` records; a pair is a positive when its measured similarity
is at least the threshold under test. ``evaluate(pairs, drops, threshold)`` scores a near-dedup run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from curate.dedup import minhash

EN_WORDS = ("patient patients treatment therapy dose daily weekly blood pressure glucose insulin kidney liver heart "
            "lung infection fever cough pain chronic acute trial cohort risk outcome mortality hospital clinic "
            "antibiotic steroid inhaled oral intravenous months years children adults elderly women men improved "
            "reduced increased compared baseline follow-up adverse events symptoms diagnosis imaging biopsy "
            "screening vaccine virus bacterial pneumonia asthma diabetes hypertension stroke cancer tumour surgery "
            "recovery rehabilitation nutrition exercise sleep smoking alcohol obesity anaemia iron vitamin").split()
ZH_WORDS = ("患者 治疗 药物 剂量 每日 血压 血糖 胰岛素 肾脏 肝脏 心脏 肺部 感染 发热 咳嗽 疼痛 慢性 急性 试验 风险 "
            "预后 死亡率 医院 门诊 抗生素 激素 吸入 口服 静脉 儿童 成人 老年人 女性 男性 改善 降低 升高 比较 基线 随访 "
            "不良反应 症状 诊断 影像 活检 筛查 疫苗 病毒 细菌 肺炎 哮喘 糖尿病 高血压 卒中 肿瘤 手术 康复 营养 运动 "
            "睡眠 吸烟 饮酒 肥胖 贫血 铁剂 维生素 检查 指南 推荐 疗程 复查").split()
LEVELS = (1.0, 0.95, 0.9, 0.85, 0.7, 0.6, 0.5, 0.3)  # targets; the label uses the measured value


@dataclass(frozen=True)
class Pair:
    """A base document and its mutated copy, with the measured Jaccard similarity of their shingles."""

    family: int
    lang: str
    base: str
    copy: str
    jaccard: float


def _join(paragraphs: list[list[str]], lang: str) -> str:
    sep = "" if lang == "zh" else " "
    end = "。" if lang == "zh" else "."
    return "\n\n".join(sep.join(p) + end for p in paragraphs)


def jaccard(a: str, b: str, n: int = 5) -> float:
    """Exact Jaccard similarity of the n-token shingle sets of two texts."""
    hashes, offsets = minhash.shingles([a, b], n)
    sa, sb = set(hashes[offsets[0]:offsets[1]].tolist()), set(hashes[offsets[1]:offsets[2]].tolist())
    return len(sa & sb) / max(1, len(sa | sb))


def _mutate(rng: random.Random, paragraphs: list[list[str]], words: tuple[str, ...]) -> None:
    para = rng.choice([p for p in paragraphs if len(p) > 2])
    i = rng.randrange(len(para) - 1)
    op = rng.choice(("swap", "delete", "insert", "replace", "reorder"))
    if op == "swap":
        para[i], para[i + 1] = para[i + 1], para[i]
    elif op == "delete":
        del para[i]
    elif op == "insert":
        para.insert(i, rng.choice(words))
    elif op == "replace":
        para[i] = rng.choice(words)
    elif len(paragraphs) > 1:
        a, b = rng.sample(range(len(paragraphs)), 2)
        paragraphs[a], paragraphs[b] = paragraphs[b], paragraphs[a]


def make_pair(rng: random.Random, family: int, lang: str, target: float) -> Pair:
    """One base document (4 paragraphs of 60-90 words) and a copy mutated down to ``target``."""
    words = ZH_WORDS if lang == "zh" else EN_WORDS
    base = [[rng.choice(words) for _ in range(rng.randint(60, 90))] for _ in range(4)]
    copy = [list(p) for p in base]
    base_text = _join(base, lang)
    copy_text = _join(copy, lang)
    similarity = 1.0
    while similarity > target:
        _mutate(rng, copy, words)
        copy_text = _join(copy, lang)
        similarity = jaccard(base_text, copy_text)
    if target == 1.0:  # an exact copy apart from spacing and case
        copy_text = "  " + copy_text.upper() + "\n"
    return Pair(family, lang, base_text, copy_text, similarity)


def make_pairs(n: int, seed: int = 0) -> list[Pair]:
    """``n`` pairs, half English and half Chinese, spread evenly over ``LEVELS``."""
    rng = random.Random(seed)
    return [make_pair(rng, i, "zh" if i % 2 else "en", LEVELS[i % len(LEVELS)]) for i in range(n)]


def evaluate(pairs: list[Pair], drops: dict[str, str], threshold: float) -> dict[str, float]:
    """Precision and recall of a near-dedup run whose documents are ``b<i>``/``c<i>`` per pair.

    ``drops`` maps each dropped id to the id it was judged a duplicate of. A pair at or above the
    threshold is found when one of its documents was dropped as a duplicate of the other.
    """
    positives = {p.family for p in pairs if p.jaccard >= threshold}
    found = set()
    false = 0
    for dropped, kept in drops.items():
        fam_d, fam_k = int(dropped[1:]), int(kept[1:])
        if fam_d == fam_k and fam_d in positives:
            found.add(fam_d)
        else:
            false += 1
    tp = len(found)
    return {"pairs": len(pairs), "positives": len(positives), "true_positives": tp, "false_positives": false,
            "precision": tp / max(1, tp + false), "recall": tp / max(1, len(positives))}
