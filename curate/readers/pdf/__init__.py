"""PDF helpers for the books reader: layout, text, tables, headings, sections."""
