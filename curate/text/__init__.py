"""Text: encodings and record I/O, normalisation, language id, sandboxed templates."""
