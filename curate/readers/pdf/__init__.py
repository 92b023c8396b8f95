"""PDF helpers for the books reader: layout, text, tables, headings, sections.

``pymupdf`` is imported here first, without the optional packages it imports when they are
installed: its layout package (which loads an ONNX layout model) and ``pymupdf4llm`` (which loads
onnxruntime). That is about a second and 55 MB in every worker process, for layout analysis the
books reader never asks for. A later ``import pymupdf.layout`` or ``import pymupdf4llm`` still
works (only pymupdf's own ``to_markdown`` shortcut stays unavailable in such a process).
"""

import sys

_OPTIONAL = ("pymupdf.layout", "pymupdf4llm")

if "pymupdf" not in sys.modules:
    _held = {name: sys.modules.get(name) for name in _OPTIONAL}
    sys.modules.update(dict.fromkeys(_OPTIONAL))  # None: the optional imports fail, and pymupdf goes on
    try:
        import pymupdf
    finally:
        for name, module in _held.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module
import pymupdf  # noqa: E402  # (already imported, with or without its optional packages)

__all__ = ["pymupdf"]
