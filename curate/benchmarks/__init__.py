"""Evaluation sets: loaders, MCQ parsing, n-grams, decontamination, PubMedQA splits."""
