"""Language identification: script rules for CJK, the bundled fastText model for the rest, offline."""

from __future__ import annotations

import subprocess
import sys

from curate.text import langid


def test_scripts_and_the_bundled_model():
    assert langid.detect("高血压患者每日服用药物")[0] == "zh"
    assert langid.detect("こんにちは、せんせい")[0] == "ja"
    assert langid.detect("환자는 발열이 있었다")[0] == "ko"
    assert langid.detect("The patient was febrile and tachycardic on admission.")[0] == "en"
    assert langid.detect("Der Patient hatte seit drei Tagen hohes Fieber.")[0] == "de"
    assert langid.detect("123 !!!") == ("und", 0.0)


def test_the_model_loads_without_the_downloader():
    """The downloader (and ``requests``) cost every worker 0.4 s and serve only a download curate never
    makes; a later import of the downloader still gets the real package."""
    probe = ("import sys\nfrom curate.text import langid\nlangid.detect('The patient was febrile.')\n"
             "print(sorted(m for m in ('requests', 'robust_downloader') if m in sys.modules))\n"
             "import robust_downloader\nprint(hasattr(robust_downloader, '__file__'))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"
