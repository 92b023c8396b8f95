"""Text repair and measurement."""

from curate.text import normalise as text


def test_safe_nfkc_folds_lossless_forms():
    assert text.safe_nfkc("⽬⾜") == "目足"  # Kangxi radicals from Chinese textbooks
    assert text.safe_nfkc("ＡＢＣ１２３") == "ABC123"  # full-width letters and digits
    assert text.safe_nfkc("ﬁbrosis") == "fibrosis"  # ligature
    assert text.safe_nfkc("5㎎") == "5mg"  # squared unit sign
    assert text.safe_nfkc("a\u00a0b") == "a b"  # no-break space


def test_safe_nfkc_keeps_meaningful_forms():
    kept = "体表面积1.73 m²，WBC 10⁹/L，½片，①②，H₂O，发热、咳嗽：“是”……"
    assert text.safe_nfkc(kept) == kept


def test_fix_repairs_mojibake_but_keeps_quotes_and_cjk_punctuation():
    assert text.fix("cafÃ©") == "café"
    assert text.fix("“quoted” text") == "“quoted” text"
    assert text.fix("发热，咳嗽（三天）。") == "发热，咳嗽（三天）。"
    assert text.fix("a &amp; b") == "a & b"


def test_normalize_whitespace():
    raw = "a \t b\u200b\r\n\n\n\nc  \x07d\n"
    assert text.normalize_whitespace(raw) == "a b\n\nc d"


def test_detect_lang():
    assert text.detect_lang("高血压患者应当每天监测血压，并按医嘱服用降压药物。") == "zh"
    assert text.detect_lang("Hypertension should be monitored daily.") == "en"
    assert text.detect_lang("使用 ACE inhibitors 治疗高血压和心力衰竭") == "zh"


def test_symbol_ratio():
    assert text.symbol_ratio("") == 0.0
    assert text.symbol_ratio("abc def") == 0.0
    assert text.symbol_ratio("#$%&") == 1.0


def test_dedup_key_ignores_case_space_and_punctuation():
    assert text.dedup_key("What is  Asthma?") == text.dedup_key("what is asthma")
    assert text.dedup_key("哮喘是什么？") == text.dedup_key("哮喘 是什么")
    assert text.dedup_key("asthma") != text.dedup_key("asthmas")


def test_fix_fast_path_agrees_with_ftfy():
    import random

    import ftfy

    rng = random.Random(0)
    alphabet = [chr(c) for c in range(0x20, 0x7F)] + ["\n", "\t", "\r", "\x1b", "\x07", "&amp;", "&lt;", "Ã©"]
    for _ in range(2000):
        s = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        assert text.fix(s) == ftfy.fix_text(s, text._ftfy()[1]), repr(s)
