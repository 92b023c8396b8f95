"""PDF helpers for the books reader: layout, text, tables, headings, sections.

``pymupdf`` is imported here first, without its optional layout package: when that is installed,
``import pymupdf`` imports it too, and it loads an ONNX layout model (about a second and 100 MB in
every worker process). The books reader never asks for layout analysis; a later ``import
pymupdf.layout`` (pymupdf4llm does one) still works.
"""

import sys

if "pymupdf" not in sys.modules:
    sys.modules["pymupdf.layout"] = None  # type: ignore[assignment]  # makes the optional import fail
    try:
        import pymupdf
    finally:
        del sys.modules["pymupdf.layout"]
import pymupdf  # (already imported, with or without its layout package)

__all__ = ["pymupdf"]
