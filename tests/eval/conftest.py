"""Shared fixtures for evaluation tests: a tiny HF export (random Llama + the bundled tokenizer) and PubMedQA files."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "curate" / "assets" / "tokenizer"
TINY = {"vocab_size": 6922, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048}


def write_export(out: Path, seed: int = 0, **overrides: int) -> Path:
    """A random Llama saved as ``curate train`` exports it: model files plus the bundled tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**{**TINY, **overrides}))
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKENIZER / name, out / name)
    return out


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """One intra-op thread: the test machines are small and shared, where more threads spin on each other."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny HF export directory (hidden 64, 2 layers, seed 0), built once per session."""
    pytest.importorskip("transformers")
    return write_export(tmp_path_factory.mktemp("tiny_export"))


WORDS = ("patients", "treatment", "outcome", "cohort", "risk", "trial", "therapy", "dose", "mortality", "surgery",
         "children", "score", "increase", "reduced", "clinical", "hospital", "study", "analysis", "response", "rate")
LABELS = ("yes", "no", "maybe")


def pqal_items(n: int, seed: int = 0, words_per_context: int = 30) -> dict[str, dict]:
    """``n`` PubMedQA-L-shaped items (PMID -> item) of random words, labels cycling yes/no/maybe."""
    rng = random.Random(seed)

    def sentence(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + "."

    items, half = {}, words_per_context // 2
    for i in range(n):
        pmid = str(10_000_000 + i)
        items[pmid] = {"QUESTION": sentence(8)[:-1] + "?",
                       "CONTEXTS": [sentence(half), sentence(words_per_context - half)],
                       "LABELS": ["BACKGROUND", "RESULTS"], "MESHES": [], "YEAR": "2001",
                       "reasoning_required_pred": "yes", "reasoning_free_pred": "yes",
                       "final_decision": LABELS[i % 3], "LONG_ANSWER": sentence(12)}
    return items


@pytest.fixture
def pqal_files(tmp_path: Path) -> tuple[Path, Path]:
    """``ori_pqal.json`` with 12 items and ``test_ground_truth.json`` naming 6 of them."""
    items = pqal_items(12)
    data = tmp_path / "ori_pqal.json"
    data.write_text(json.dumps(items), encoding="utf-8")
    test = tmp_path / "test_ground_truth.json"
    test.write_text(json.dumps({p: it["final_decision"] for p, it in list(items.items())[:6]}), encoding="utf-8")
    return data, test
