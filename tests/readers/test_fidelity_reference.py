"""The ground truth of ``bench/books_fidelity.py``: a LaTeX book's body sentences, with ``\\ref`` printed as
the book prints it, what ``main.tex`` leaves out left out, and floats and back matter excluded."""

from __future__ import annotations

from tests.readers.helpers import bench_module

CHAP1 = r"""\chapter{免疫系统}
\begin{framed}
\noindent\textbf{【本章重点】}

1.免疫系统的构成；
\end{framed}
胸腺的结构如图\ref{fig1-2}所示，一结缔组织被膜覆盖胸腺表面。% a comment \ref{tab1-1}

\begin{figure}[!htbp]
 \includegraphics{a.jpg}
 \caption{第一道防线}
 \label{fig1-1}
\end{figure}
\begin{figure}[!htbp]
 \begin{minipage}{0.4\textwidth}\caption{胸腺}\label{fig1-2}\end{minipage}
 \caption*{no number}
\end{figure}
\section{中枢免疫器官}\label{sec:central}
细胞数见表\ref{tab1-1}，方法见第\ref{sec:central}节。
\begin{longtable}[]{ll}
\caption{细胞数}\label{tab1-1}\\
T & 75\% \\
\end{longtable}
"""
CHAP2 = r"""\chapter*{前言}
\chapter{外周免疫器官}
\section{淋巴结}
\section{脾脏}\label{sec:spleen}
\begin{figure}\caption{脾脏的结构}\label{fig2-1}\end{figure}
脾脏的结构如图\ref{fig2-1}所示，见\ref{sec:spleen}与附录\ref{app}，另见\ref{missing}处。
ARDS联席会议
\protect\hyperlink{text00011.htmlux5cux23ch1-10}{\textsuperscript{{[}1{]}}}
，将ARDS中的“A”改为急性，见\href{https://example.org/x}{指南}。
"""


def test_latex_reference_prints_refs_as_the_book_does_and_follows_main(tmp_path):
    fidelity = bench_module("books_fidelity")
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "chap01.tex").write_text(CHAP1, encoding="utf-8")
    (tmp_path / "content" / "chap02.tex").write_text(CHAP2, encoding="utf-8")
    (tmp_path / "content" / "old.tex").write_text("旧的章节不在书里。\n", encoding="utf-8")
    (tmp_path / "content" / "extra.tex").write_text(r"\chapter{索引}\label{app}" + "\n附录的正文不算正文。\n",
                                                    encoding="utf-8")
    (tmp_path / "main.tex").write_text("\\begin{document}\n\\input{content/chap01.tex}\n"
                                       "% \\input{content/old.tex}\n\\include{content/chap02}\n"
                                       "\\appendix\n\\input{content/extra.tex}\n\\end{document}\n", encoding="utf-8")
    ref = fidelity.latex_reference(tmp_path / "main.tex")
    body = "\n".join(ref.body)
    assert "胸腺的结构如图1-2所示，一结缔组织被膜覆盖胸腺表面。" in ref.body
    assert "细胞数见表1-1，方法见第1.1节。" in ref.body
    assert "脾脏的结构如图2-1所示，见2.2与附录A，另见处。" in ref.body
    assert "1.免疫系统的构成；" in ref.body  # a framed box is body text
    spaced = [" ".join(b.split()) for b in ref.body]
    assert "ARDS联席会议 [1] ，将ARDS中的“A”改为急性，见指南。" in spaced  # a link counts as its text
    assert "旧的章节" not in body and "附录的正文" not in body  # commented out; after \appendix
    assert "第一道防线" not in body and "75" not in body and "no number" not in body  # floats and captions
    assert {"免疫系统", "中枢免疫器官", "淋巴结"} <= set(ref.allowed)


def test_label_numbers_count_captions_within_chapters():
    fidelity = bench_module("books_fidelity")
    labels = fidelity.label_numbers([CHAP1, CHAP2])
    assert labels == {"fig1-1": "1-1", "fig1-2": "1-2", "sec:central": "1.1", "tab1-1": "1-1",
                      "sec:spleen": "2.2", "fig2-1": "2-1"}


JATS = """<article><front><article-meta><title-group><article-title>Zinc fingers</article-title></title-group>
<abstract abstract-type="summary"><p>Background: MBNL1 binds RNA. Results: one GC is enough.</p></abstract>
</article-meta></front><body><sec><title>Results</title>
<p>The 1GC RNA bound with a Kd of 45 nM [<xref ref-type="bibr" rid="3">3</xref>]. Binding was weak.</p>
<fig id="f1"><label>Figure 1</label><caption><p>Gel shift of the 1GC RNA. Lanes as in A.</p></caption></fig>
<table-wrap id="t1"><caption><p>Dissociation constants of all RNAs.</p></caption><table><tr><td><p>2.5 nM</p></td></tr>
</table></table-wrap><list><list-item><p>A listed finding of the study.</p></list-item></list>
<preformat>not a paragraph</preformat></sec></body>
<back><ref-list><ref><mixed-citation><pub-id>10.1/x</pub-id> A cited work. 2008.</mixed-citation></ref>
</ref-list></back>
</article>"""


def test_jats_reference_leaves_out_figures_tables_and_back_matter(tmp_path):
    fidelity = bench_module("books_fidelity")
    path = tmp_path / "paper-content.xml"
    path.write_text(JATS, encoding="utf-8")
    ref = fidelity.jats_reference(path)
    assert [" ".join(s.split()) for s in ref.body] == [
        "Background: MBNL1 binds RNA.", "Results: one GC is enough.", "The 1GC RNA bound with a Kd of 45 nM [ 3 ].",
        "Binding was weak.", "A listed finding of the study."]
    assert {"Zinc fingers", "Results"} <= set(ref.allowed)
    assert "Gel shift" not in ref.source and "Dissociation" not in ref.source and "cited work" not in ref.source
