"""Attention honours the training masks on every path, or the run is refused before it starts.

Eager attention adds a mask to the scores; a boolean mask then adds 0 or 1 and hides nothing. These tests
show that (so the refusal guards a real failure), that recipes and models asking for eager are refused,
and that sdpa, which the trainer and the evaluation load, keeps packed examples and GLM's parts apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from curate.build.recipes import RecipeError
from curate.train import engine, loop
from curate.train.config import load_config
from curate.train.data import collate_packed
from curate.train.glm import GLMCollator

from .conftest import TINY_MODEL, write_recipe

pytestmark = pytest.mark.usefixtures("one_thread")
PAD = 1


def _llama(attn: str) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**TINY_MODEL)).eval()
    model.set_attn_implementation(attn)
    return model


def _packed_batch() -> tuple[dict, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    examples = [rng.integers(8, 200, n) for n in (6, 9, 5)]
    ids = np.concatenate([*examples, [PAD] * 4])
    row = {"input_ids": ids, "labels": ids, "boundaries": np.cumsum([0, 6, 9, 5]), "task_id": np.zeros(3)}
    return collate_packed([row], pad_id=PAD), examples


def test_eager_with_a_boolean_mask_leaks_and_sdpa_does_not() -> None:
    batch, examples = _packed_batch()
    with torch.no_grad():
        alone = _llama("sdpa")(input_ids=torch.as_tensor(examples[1])[None]).logits[0]
        outputs = {attn: _llama(attn)(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                                      attention_mask=batch["attention_mask"]).logits[0, 6:15]
                   for attn in ("sdpa", "eager")}
    torch.testing.assert_close(outputs["sdpa"], alone, atol=1e-5, rtol=0)
    assert (outputs["eager"] - alone).abs().max() > 1e-3  # the second example saw the first


def test_sdpa_keeps_glm_part_a_blind_to_part_b() -> None:
    collate = GLMCollator(mask_id=4, sop_id=5, eop_id=6, pad_id=PAD, seq_length=48, seed=1)
    tokens = np.arange(8, 8 + collate.text_length + 1)
    batch = collate([{"tokens": tokens, "index": 0}])
    sep = int(batch["separator"][0])
    model = _llama("sdpa")
    changed = batch["input_ids"].clone()
    changed[0, sep:] = 7  # rewrite all of Part B
    with torch.no_grad():
        a = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                  attention_mask=batch["attention_mask"]).logits[0, :sep]
        b = model(input_ids=changed, position_ids=batch["position_ids"],
                  attention_mask=batch["attention_mask"]).logits[0, :sep]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_recipes_asking_for_eager_are_refused(recipe: Path) -> None:
    with pytest.raises(RecipeError, match="eager attention adds the boolean mask"):
        load_config(recipe, "instruct", ["model.attn_implementation='eager'"])
    with pytest.raises(RecipeError, match="flash_attention_2 cannot express GLM"):
        load_config(recipe, "pretrain", ["model.attn_implementation='flash_attention_2'", "objective='glm'"])
    assert load_config(recipe, "pretrain").model.attn_implementation == "sdpa"


def test_a_model_running_eager_is_refused_before_training(tmp_path: Path, builds: tuple[Path, Path]) -> None:
    model = _llama("eager")
    with pytest.raises(RuntimeError, match="ignores boolean masks"):
        engine.require_masked_attention(model)
    engine.require_masked_attention(_llama("sdpa"))
    recipe = write_recipe(tmp_path / "r.toml", *builds, tmp_path / "run", pretrain={"train_iters": 1})
    cfg = load_config(recipe, "pretrain")
    original = loop.build_stage_model
    try:  # a model whose own config falls back to eager (e.g. remote code) is caught at the start
        loop.build_stage_model = lambda c, d: (_llama("eager"), None, None)
        with pytest.raises(RuntimeError, match="ignores boolean masks"):
            loop.train(cfg, engine.Dist(0, 1, 0, torch.device("cpu")))
    finally:
        loop.build_stage_model = original


def test_evaluation_loads_sdpa(tmp_path: Path) -> None:
    from curate.eval.model import load_model
    from curate.train.config import BUNDLED_TOKENIZER
    from curate.train.export import copy_tokenizer

    _llama("eager").save_pretrained(tmp_path / "m")  # saved with eager in its config
    copy_tokenizer(BUNDLED_TOKENIZER, tmp_path / "m")
    model, _ = load_model(tmp_path / "m")
    assert engine.attention_of(model) == "sdpa"
