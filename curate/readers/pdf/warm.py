"""The PDF reader's tables, filled once in a build's fork server (``books.warm_up``, ``core.workers.warm_up``).

A books build's workers otherwise each fill them on their first pages: the English word list for
hyphens, ftfy (on the first page that may hold mojibake), the code-point tables of the character pass,
fontTools' table readers and the shipped reference glyphs (on the first font without Unicode): about
0.14 s of CPU per worker, before its first page is read at full speed. Forked from a server
that imported this module, every worker starts with them filled. A build that runs in one process
imports nothing here: it fills each table when, and if, a page needs it.
"""

from curate.readers.pdf import fonts, glyphs, symbols
from curate.readers.pdf import text as pdftext
from curate.text import normalise


def fill() -> None:
    """Fill every table the reader fills lazily and that does not depend on the book."""
    pdftext.english_words()
    pdftext._folds()
    fonts._raw_bmp()
    normalise._ftfy()
    glyphs._stacked()
    symbols._shipped()
    symbols._stacked()
    # fontTools' readers of the tables a font program without Unicode is read through.
    from fontTools.cffLib import CFFFontSet  # noqa: F401
    from fontTools.ttLib.tables import _c_m_a_p, _g_l_y_f, _h_e_a_d, _l_o_c_a, _m_a_x_p, otTables  # noqa: F401
