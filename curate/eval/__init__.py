"""Evaluation and prompting: option scoring, prompting strategies, generation backends, annotation."""
