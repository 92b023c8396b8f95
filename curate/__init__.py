"""curate: medical corpus curation and three-stage LLM adaptation."""

__version__ = "0.1.0"
