"""PEFT LoRA: apply, train a step, save in PEFT's format, reload, and merge."""

from __future__ import annotations

import pytest
import torch
import transformers
from peft import PeftModel

from curate.train.lora import apply_lora, save_adapter, trainable_parameters

VOCAB = 97
TOKENIZER = "curate/assets/tokenizer"


def tiny_llama() -> transformers.LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
    )
    return transformers.LlamaForCausalLM(cfg)


def trained_lora() -> tuple[PeftModel, torch.Tensor]:
    model = apply_lora(tiny_llama(), r=4, alpha=8, dropout=0.0)
    x = torch.randint(0, VOCAB, (2, 12))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    for _ in range(2):  # step 1 moves B off zero, step 2 makes A's update matter too
        loss = torch.nn.functional.cross_entropy(model(x).logits[:, :-1].flatten(0, 1), x[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval(), x


def test_apply_lora_freezes_the_base_and_counts_the_budget():
    model = apply_lora(tiny_llama(), r=8)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    # q (64->64), k (64->32), v (64->32), o (64->64) in 2 layers, r * (in + out) each
    assert trainable_parameters(model) == 8 * 2 * ((64 + 64) + (64 + 32) * 2 + (64 + 64))


def test_unknown_target_module_is_a_clear_error():
    with pytest.raises(ValueError, match="not found"):
        apply_lora(tiny_llama(), target_modules=("query_key_value",))


def test_save_reload_and_merge_give_the_trained_logits(tmp_path):
    model, x = trained_lora()
    with torch.no_grad():
        want = model(x).logits
        base_logits = tiny_llama()(x).logits
    assert (want - base_logits).abs().max() > 1e-3  # training changed the model, so the checks below bite
    save_adapter(model, tmp_path, merge=True, tokenizer_dir=TOKENIZER)
    assert (tmp_path / "adapter_config.json").is_file() and (tmp_path / "adapter_model.safetensors").is_file()
    assert (tmp_path / "tokenizer.json").is_file() and (tmp_path / "merged" / "tokenizer.json").is_file()

    reloaded = PeftModel.from_pretrained(tiny_llama(), tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(x).logits, want)

    merged = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "merged").eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(x).logits, want, rtol=1e-5, atol=1e-5)
    # Saving the merged copy must leave the live adapter untouched.
    with torch.no_grad():
        assert torch.equal(model(x).logits, want)


def test_save_adapter_rejects_a_plain_model(tmp_path):
    with pytest.raises(TypeError, match="apply_lora"):
        save_adapter(tiny_llama(), tmp_path)
