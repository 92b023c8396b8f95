"""Book text helpers: the English word list read fast, code point replacement as one pass."""

import gzip
import json
from importlib import resources

# curate.readers.pdf is imported inside the tests: imported first at collection, it would load pymupdf without
# its layout model for the whole session, and page.find_tables (which other tests compare with) finds less.


def test_word_list_is_every_key_of_the_dictionary():
    from curate.readers.pdf import text

    path = resources.files("spellchecker") / "resources" / "en.json.gz"
    keys = frozenset(json.loads(gzip.decompress(path.read_bytes())))
    assert text.english_words() == keys
    assert {"arbitrary", "self", "reported"} <= keys


def test_keys_with_escapes_are_read_by_a_json_parser(tmp_path, monkeypatch):
    from curate.readers.pdf import text

    folder = tmp_path / "resources"
    folder.mkdir()
    with gzip.open(folder / "en.json.gz", "wt", encoding="utf-8") as f:
        f.write('{"caf\\u00e9": 3, "plain": 1, "say \\"hi\\"": 2}')
    monkeypatch.setattr(text.resources, "files", lambda package: tmp_path)
    text.english_words.cache_clear()
    try:
        assert text.english_words() == {"café", "plain", 'say "hi"'}
    finally:
        text.english_words.cache_clear()


def test_replacer_equals_one_pass_over_the_text():
    """Each code point replaced once, as one pass would: also where a replacement holds another code
    point of the table (``\\ue001`` -> ``\\ue002``) or deletes one."""
    import random
    import re

    from curate.readers.pdf import text as pdftext

    rng = random.Random(11)
    tables = [{0xE000: "1", 0xE001: "23", 0x2E8C: "小", 0xFF0C: ","},
              {0xE000: "\ue001", 0xE001: "\ue002", 0xE002: ""},
              {0xE000: "", 0xE001: "x"}]
    pool = list("ab 精神\ue000\ue001\ue002\u2e8c，,")
    for table in tables:
        replace = pdftext._replacer(table)
        for _ in range(500):
            s = "".join(rng.choices(pool, k=rng.randint(0, 20)))
            one_pass = re.sub("[" + "".join(map(chr, table)) + "]", lambda m, t=table: t[ord(m.group())], s)
            assert replace(s) == one_pass
    assert pdftext._replacer({}) is None


def test_compounds_are_those_of_the_whitespace_split_words():
    import itertools
    import random
    import re

    from curate.readers.pdf import text as pdftext

    def by_split(lines):
        found = set()
        for token in "\n".join(lines).lower().split():
            word = token.strip(".,;:()[]\"'")
            if "-" in token and re.fullmatch(r"[a-z]{2,}(?:-[a-z]{2,})+", word):
                found.update(f"{a}-{b}" for a, b in itertools.pairwise(word.split("-")))
        return found

    rng = random.Random(2)
    pool = [*"abcXY--  .(\"精\u3000\xa0\x1c\u2028\t", "follow-up", "renin-angiotensin-aldosterone"]
    for _ in range(2000):
        lines = ["".join(rng.choices(pool, k=rng.randint(0, 25))) for _ in range(rng.randint(1, 3))]
        assert pdftext.compounds(lines) == by_split(lines), lines
    assert pdftext.compounds(["a follow-up (long-term) visit"]) == {"follow-up", "long-term"}


def test_lossless_nfkc_folds_beyond_the_basic_plane_as_the_full_table_does():
    """Characters beyond the basic plane are looked up one by one; a page with them (and with the block
    separator, itself beyond it) folds as ``normalise.safe_nfkc`` does. No folded form holds a folded
    character, so the order of the replacements cannot matter."""
    from curate.readers.pdf import text as pdftext
    from curate.text import normalise

    table = normalise._nfkc_table()
    keys = {chr(c) for c in table}
    assert not any(ch in keys for v in table.values() for ch in v)
    s = "𝐀𝐁 x² ＡＢ ⽣ 🄰 𠀀" + pdftext._SEPARATOR + "ﬁne 丽"
    assert pdftext._nfkc(s) == normalise.safe_nfkc(s) != s
    assert pdftext._nfkc("plain 精神" + pdftext._SEPARATOR) == "plain 精神" + pdftext._SEPARATOR
