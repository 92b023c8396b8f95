"""The local Hugging Face backend on a tiny model: greedy determinism, left padding, chat format, adapters."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.eval.backends import HFBackend, cut_at_stop, open_backend

torch = pytest.importorskip("torch")

PROMPTS = ["Is aspirin effective?", "Context: patients were randomised to two arms of a long trial with many "
           "outcomes.\nQuestion: did mortality fall?", "Hi", "答案是什么？"]


@pytest.fixture(scope="module")
def backend(tiny_export: Path) -> HFBackend:
    return HFBackend(tiny_export, batch_size=4)


def test_prompts_are_chat_formatted_with_the_generation_prompt(backend: HFBackend, tiny_export: Path) -> None:
    assert backend.format("Hi") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert backend.identity["kind"] == "hf" and len(backend.identity["weights"]) == 16
    raw = open_backend(str(tiny_export), chat=False)
    assert isinstance(raw, HFBackend) and raw.format("Hi") == "Hi"


def test_greedy_generation_is_deterministic(backend: HFBackend) -> None:
    first = backend.generate(PROMPTS, max_new_tokens=12)
    assert len(first) == len(PROMPTS) and all(isinstance(t, str) for t in first)
    assert any(t.strip() for t in first)
    assert backend.generate(PROMPTS, max_new_tokens=12) == first


def test_left_padded_batches_equal_unbatched_generation(backend: HFBackend) -> None:
    batched = backend.generate(PROMPTS, max_new_tokens=12)
    one_by_one = [backend.generate([p], max_new_tokens=12)[0] for p in PROMPTS]
    assert batched == one_by_one
    # the prompts really differ in length, so the batch was padded
    lengths = {len(backend.tokenizer(backend.format(p))["input_ids"]) for p in PROMPTS}
    assert len(lengths) == len(PROMPTS)


def test_results_are_reported_as_they_arrive_in_prompt_order(backend: HFBackend) -> None:
    seen: dict[int, str] = {}
    out = backend.generate(PROMPTS, max_new_tokens=5, on_result=seen.__setitem__)
    assert [seen[i] for i in range(len(PROMPTS))] == out


def test_stop_strings_cut_the_completion(backend: HFBackend) -> None:
    full = backend.generate(PROMPTS[:1], max_new_tokens=12)[0]
    assert len(full) > 2
    stop = full[2:4]
    assert backend.generate(PROMPTS[:1], max_new_tokens=12, stop=[stop])[0] == full[:full.index(stop)]
    assert cut_at_stop("Answer: A\n\nQ:", ["\n\n", "Q:"]) == "Answer: A"
    assert cut_at_stop("abc", None) == "abc"


def test_sampling_is_seeded(backend: HFBackend) -> None:
    a = backend.generate(PROMPTS[:2], max_new_tokens=4, temperature=1.0)
    assert backend.generate(PROMPTS[:2], max_new_tokens=4, temperature=1.0) == a


def test_a_peft_adapter_changes_the_output(tiny_export: Path, backend: HFBackend, tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_export)
    config = peft.LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"],
                             init_lora_weights=False)  # random B: an adapter that does something
    peft.get_peft_model(model, config).save_pretrained(tmp_path / "lora")
    adapted = HFBackend(tiny_export, tmp_path / "lora")
    assert adapted.identity["adapter"].endswith("lora") and adapted.identity["weights"] != backend.identity["weights"]
    assert adapted.generate(PROMPTS[:2], max_new_tokens=6) != backend.generate(PROMPTS[:2], max_new_tokens=6)


def test_a_cpoly_adapter_generates_per_task(tiny_export: Path, tmp_path: Path) -> None:
    cpoly = pytest.importorskip("curate.train.cpoly")
    from transformers import AutoModelForCausalLM

    torch.manual_seed(2)
    cfg = cpoly.CPolyConfig.from_tasks({"pubmedqa": 0, "medqa": 1})
    model = cpoly.apply_cpoly(AutoModelForCausalLM.from_pretrained(tiny_export), cfg)
    with torch.no_grad():
        for _, layer in cpoly.cpoly_layers(model):
            for name in ("shared_B", "task_B"):
                getattr(layer, name).normal_(0, 0.5)  # B starts at zero; make the tasks differ
    cpoly.save_cpoly(model, cfg, tmp_path / "cpoly")
    outputs = {task: HFBackend(tiny_export, tmp_path / "cpoly", task=task).generate(PROMPTS[:2], max_new_tokens=6)
               for task in ("pubmedqa", "medqa")}
    assert outputs["pubmedqa"] != outputs["medqa"]
    again = HFBackend(tiny_export, tmp_path / "cpoly", task="medqa", batch_size=1)
    assert again.generate(PROMPTS[:2], max_new_tokens=6) == outputs["medqa"]


def test_a_prompt_longer_than_the_model_is_refused_with_its_size(tmp_path: Path) -> None:
    from curate.eval.backends import BackendError, HFBackend

    from .conftest import write_export

    backend = HFBackend(write_export(tmp_path / "short", max_position_embeddings=64))
    assert len(backend.generate(["a short question"], max_new_tokens=4)) == 1
    with pytest.raises(BackendError, match=r"exceeds the model's 64 positions.*--shots"):
        backend.generate(["word " * 80], max_new_tokens=4)
