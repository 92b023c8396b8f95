"""Tokenizers, tokenization into Megatron indexed datasets, and reading them back."""
