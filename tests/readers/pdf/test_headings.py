"""Heading keys: the fast NFKC gives what full NFKC gives."""

import random
import unicodedata

# curate.readers.pdf is imported inside the tests: imported first at collection, it would load pymupdf without
# its layout model for the whole session, and page.find_tables (which other tests compare with) finds less.


def test_fast_nfkc_equals_unicode_nfkc():
    from curate.readers.pdf import headings

    pool = ([chr(c) for c in range(0xFF01, 0xFF5F)] + list("精神病学。、「」…ﬁ①㎎Å\u0301\u0308\u3000 aZ9.")
            + ["\u2f00", "\u2e8c", "\u1100\u1161", "\ufe10"])
    rng = random.Random(3)
    texts = ["".join(rng.choices(pool, k=rng.randint(1, 30))) for _ in range(3000)] + ["Ａ\u0301", "plain ascii"]
    for s in texts:
        assert headings._nfkc(s) == unicodedata.normalize("NFKC", s), s
    assert headings.title_key("第１章　总论（Ⅰ）") == headings.title_key("第1章 总论(I)")
