"""Weights per shard: a meta-device model filled from a checkpoint or a seeded init equals the usual model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from curate.train import weights
from curate.train.config import ModelConfig
from curate.train.export import copy_tokenizer

from .conftest import TINY_MODEL

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def _built(init: Path | None = None, seed: int = 0, config: dict | None = None) -> torch.nn.Module:
    model_cfg = ModelConfig(config=config or TINY_MODEL)
    base = weights.build_meta(model_cfg, init)
    assert all(p.is_meta for p in base.parameters())  # nothing allocated before sharding
    plan = weights.Plan(init, weights.checkpoint_names(base), {}, hf_model=base)
    return weights.materialise(base, CPU, plan, seed).eval()


def test_a_checkpoint_fills_the_model_exactly(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(5)
    LlamaForCausalLM(LlamaConfig(**TINY_MODEL)).save_pretrained(tmp_path / "m")
    reference = AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
    model = _built(tmp_path / "m")
    for (name, a), (_, b) in zip(reference.state_dict().items(), model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    ids = torch.randint(8, 200, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, reference(input_ids=ids).logits, rtol=0, atol=0)
    buffers = dict(model.named_buffers())
    torch.testing.assert_close(buffers["model.rotary_emb.inv_freq"], dict(reference.named_buffers())[
        "model.rotary_emb.inv_freq"])


def test_a_config_model_is_initialised_like_hugging_face_and_reproducibly() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    a, b, c = _built(seed=1), _built(seed=1), _built(seed=2)
    reference = LlamaForCausalLM(LlamaConfig(**TINY_MODEL))
    for name, p in a.named_parameters():
        assert torch.equal(p, dict(b.named_parameters())[name]), name
        ref = dict(reference.named_parameters())[name]
        if name.endswith("norm.weight"):
            assert torch.equal(p, torch.ones_like(p))
        else:  # normal(0, initializer_range) as transformers draws it
            assert abs(p.std().item() - ref.std().item()) < 0.002 and abs(p.mean().item()) < 0.002, name
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)
    torch.testing.assert_close(dict(a.named_buffers())["model.rotary_emb.inv_freq"],
                               dict(reference.named_buffers())["model.rotary_emb.inv_freq"])


def test_adapters_start_as_the_identity_and_tied_embeddings_are_retied(tmp_path: Path) -> None:
    from curate.train.lora import apply_lora

    base = weights.build_meta(ModelConfig(config=TINY_MODEL), None)
    names = weights.checkpoint_names(base)
    model = apply_lora(base, r=4, alpha=8, dropout=0.0)
    plan = weights.Plan(None, names, weights.adapter_presets(model, 3), hf_model=base)
    weights.materialise(model, CPU, plan, 3)
    lora_a = [p for n, p in model.named_parameters() if "lora_A" in n]
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_a and all(p.abs().sum() > 0 for p in lora_a) and all(torch.equal(p, torch.zeros_like(p))
                                                                       for p in lora_b)
    tied = _built(config={**TINY_MODEL, "tie_word_embeddings": True})
    weights.tie_if_needed(tied, sharded=False)
    assert tied.lm_head.weight.data_ptr() == tied.model.embed_tokens.weight.data_ptr()
    with pytest.raises(ValueError, match="tied word embeddings"):
        weights.tie_if_needed(tied, sharded=True)


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    LlamaForCausalLM(LlamaConfig(**TINY_MODEL)).save_pretrained(tmp_path / "m")
    copy_tokenizer(Path(__file__).parents[2] / "curate" / "assets" / "tokenizer", tmp_path / "m")
    state = load_file(tmp_path / "m" / "model.safetensors")
    del state["model.layers.1.mlp.up_proj.weight"]
    save_file(state, tmp_path / "m" / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"1 parameter\(s\) .* not in the checkpoint.*up_proj"):
        _built(tmp_path / "m")
