"""HTML (trafilatura) and Markdown (markdown-it-py) articles to running text."""

from __future__ import annotations

from curate.readers import markup
from curate.readers.markup import html_to_text, markdown_to_text

PARAGRAPH = ("Influenza spreads by droplets when an infected person coughs or sneezes, and adults can pass it "
             "on a day before symptoms start. {n} Annual vaccination remains the most effective protection.")

PAGE = """<!DOCTYPE html><html><head><title>Flu season | City Clinic</title>
<meta property="og:site_name" content="City Clinic"><script>track("flu")</script><style>p{{color:red}}</style></head>
<body><header><a href="/">City Clinic</a><nav><ul><li><a href="/a">Appointments</a></li>
<li><a href="/b">Find a doctor</a></li><li><a href="/c">Pay a bill</a></li></ul></nav></header>
<aside class="sidebar"><h3>Related</h3><ul><li><a href="/x">Colds in children</a></li></ul></aside>
<main><article><h1>Flu season</h1><p class="byline">By Dr. Ana Li | 3 min read</p>
<p>{p1}</p><h2>Who should be vaccinated</h2><p>{p2}</p>
<ul><li>Adults over 65</li><li>Pregnant women</li></ul>
<table><tr><th>Dose</th><th>Age</th></tr><tr><td>0.5 ml</td><td>3+</td></tr></table>
<p>{p3}</p></article>
<section class="comments"><h3>Comments</h3><p>Great post!!! Visit my shop</p></section></main>
<footer><p>© 2024 City Clinic. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>"""


def test_html_keeps_the_article_and_drops_the_page_around_it() -> None:
    html = PAGE.format(p1=PARAGRAPH.format(n="One."), p2=PARAGRAPH.format(n="Two."), p3=PARAGRAPH.format(n="Three."))
    title, text = html_to_text(html)
    assert title == "Flu season"
    lines = text.split("\n")
    assert lines[0] == "Flu season" and "Who should be vaccinated" in lines
    assert lines.count("- Adults over 65") == 1 and "- Pregnant women" in lines
    assert [line for line in lines if line.startswith("Influenza")] == [PARAGRAPH.format(n=n) for n in
                                                                       ("One.", "Two.", "Three.")]
    for boilerplate in ("Appointments", "Colds in children", "0.5 ml", "Great post", "All rights reserved",
                        "Privacy", "track(", "color:red", "3 min read"):
        assert boilerplate not in text, boilerplate


def test_a_short_page_is_not_replaced_by_the_whole_page_text() -> None:
    html = ("<html><head><title>T</title><style>p{}</style><script>var x;</script></head><body>"
            "<nav>Home | About</nav><article><h1>Vaccines</h1><p>Vaccines save&nbsp;lives &amp; money.</p>"
            "<table><tr><td>cell</td></tr></table><ul><li>MMR</li></ul></article><footer>© clinic</footer>"
            "</body></html>")
    assert html_to_text(html) == ("Vaccines", "Vaccines\nVaccines save lives & money.\n- MMR")


def test_a_title_from_outside_the_article_falls_back_to_the_title_element() -> None:
    html = ("<html><head><title>What is X? - The X book</title></head><body>"
            "<div class='help' hidden><h2>Keyboard shortcuts</h2><p>Press S to search</p></div>"
            f"<main><h1>What is X?</h1><p>{PARAGRAPH.format(n='')}</p></main></body></html>")
    title, text = html_to_text(html)
    assert "Keyboard shortcuts" not in text and title in ("What is X?", "What is X? - The X book")


def test_html_without_content_is_empty() -> None:
    assert html_to_text("") == ("", "")
    assert html_to_text("<html><head><title>Empty</title></head><body></body></html>")[1] == ""


MARKDOWN = """---
title: "Heart failure: a guide"
tags: [cardiology]
---
# Living well

Salt **matters** a *lot*, says [the guideline](http://x "t") and ~~old~~ new `advice`.
A soft break joins lines.

![diagram](img/heart.png)

| Class | Symptoms |
|---|---|
| I | none |

1. Weigh yourself
2. Take the tablets
   - with water
   - after meals

     A second paragraph of the item.
- walk daily

> Call 999 if breathless.

```python
dose = 5
```

<div class="note">Kept <b>text</b></div>
<!-- an editor's comment -->

[ref]: http://example.org
"""


def test_markdown_blocks_lists_and_front_matter() -> None:
    title, text = markdown_to_text(MARKDOWN)
    assert title == "Heart failure: a guide"
    assert text.split("\n\n") == [
        "Living well",
        "Salt matters a lot, says the guideline and old new advice. A soft break joins lines.",
        "1. Weigh yourself\n2. Take the tablets\n  - with water\n  - after meals\n    A second paragraph of the item.",
        "- walk daily",
        "Call 999 if breathless.",
        "dose = 5",
        "Kept text",
    ]


def test_markdown_title_is_the_first_heading_without_front_matter() -> None:
    assert markdown_to_text("Intro line\n\n## Second level\n\n# First level\n") == (
        "Second level", "Intro line\n\nSecond level\n\nFirst level")
    assert markdown_to_text("") == ("", "")
    assert markdown_to_text("Setext title\n===\n\ntext")[0] == "Setext title"


def test_a_page_nested_deeper_than_libxml2_allows_keeps_the_text_after_the_nesting() -> None:
    deep = "<div>" * 30_000 + "<p>Deep text about asthma.</p>" + "</div>" * 30_000
    html = (f"<html><head><title>Asthma</title></head><body>{deep}"
            "<p>Shallow text about asthma inhalers and their correct use.</p></body></html>")
    _, text = html_to_text(html)
    assert "Shallow text about asthma inhalers" in text
    page = "<html><body><div><p>Ordinary page.</p></div></body></html>"
    assert markup._flattened(page) is page  # pages of ordinary depth are parsed as they are
