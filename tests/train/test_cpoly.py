"""C-Poly tuner: allocation math, routing, gradients, save/load and merge on a tiny LLaMA."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from torch import nn

from curate.train.cpoly import (
    CPolyConfig,
    CPolyLinear,
    adapter_state_dict,
    allocation,
    apply_cpoly,
    count_adapter_parameters,
    cpoly_layers,
    load_cpoly,
    merge_task,
    save_cpoly,
    set_task_ids,
    task_context,
)

VOCAB = 97
ROOT = Path(__file__).resolve().parents[2]


def tiny_llama(seed: int = 0) -> transformers.LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


def randomize_b(model: nn.Module, seed: int = 1) -> None:
    """Zero-init B hides everything; give the skills a real contribution."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in cpoly_layers(model):
            for p in (layer.shared_B, layer.task_B):
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            layer.logits.copy_(torch.randn(layer.logits.shape, generator=g))


def single_layer(cfg: CPolyConfig, seed: int = 0) -> CPolyLinear:
    torch.manual_seed(seed)
    layer = CPolyLinear(nn.Linear(16, 12, bias=True), cfg)
    randomize_b(nn.Sequential(layer), seed)
    return layer


def test_allocation_eval_is_normalised_sigmoid():
    logits = torch.tensor([[0.0, 2.0, -1.0], [3.0, 3.0, 3.0]])
    w = allocation(logits, temperature=2.0, training=False)  # eval ignores the temperature
    s = torch.sigmoid(logits)
    torch.testing.assert_close(w, s / s.sum(-1, keepdim=True))
    torch.testing.assert_close(w[1], torch.full((3,), 1 / 3))
    assert w.shape == (2, 3)


def test_allocation_training_noise_is_seeded_and_changes_weights():
    logits = torch.randn(3, 4)
    torch.manual_seed(5)
    a = allocation(logits, 1.0, training=True)
    torch.manual_seed(5)
    b = allocation(logits, 1.0, training=True)
    c = allocation(logits, 1.0, training=True)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a, allocation(logits, 1.0, training=False))
    torch.testing.assert_close(a.sum(-1), torch.ones(3))


def test_layer_matches_the_formula_per_token():
    cfg = CPolyConfig(n_tasks=3, n_shared=2, rank=3, n_task_skills=2, alpha=6.0)
    layer = single_layer(cfg).eval()
    x = torch.randn(2, 5, 16)
    ids = torch.tensor([[0, 1, 2, -1, 1], [2, 2, 0, 0, -1]])
    with torch.no_grad():
        layer.task_ids = ids
        y = layer(x)
        w = torch.sigmoid(layer.logits)
        w = w / w.sum(-1, keepdim=True)
        for b in range(2):
            for i in range(5):
                t = int(ids[b, i])
                want = layer.base(x[b, i])
                if t >= 0:
                    shared = sum(w[t, k] * layer.shared_B[k] @ (layer.shared_A[k] @ x[b, i]) for k in range(2))
                    own = sum(layer.task_B[t, j] @ (layer.task_A[t, j] @ x[b, i]) for j in range(2)) / 2
                    want = want + cfg.scaling * (shared + own)
                torch.testing.assert_close(y[b, i], want, rtol=1e-5, atol=1e-5)


def test_per_sequence_ids_broadcast_over_tokens():
    layer = single_layer(CPolyConfig(n_tasks=3)).eval()
    x = torch.randn(2, 4, 16)
    with torch.no_grad():
        layer.task_ids = torch.tensor([1, 2])
        per_seq = layer(x)
        layer.task_ids = torch.tensor([[1] * 4, [2] * 4])
        per_tok = layer(x)
    assert per_seq.shape == (2, 4, 12)
    torch.testing.assert_close(per_seq, per_tok)


def test_zero_init_is_exactly_the_base_model():
    base = tiny_llama()
    x = torch.randint(0, VOCAB, (2, 9))
    with torch.no_grad():
        want = base(x).logits
        model = apply_cpoly(base, CPolyConfig(n_tasks=3)).train()
        with task_context(model, torch.tensor([[0, 1, 2] * 3, [2] * 9])):
            got = model(x).logits
    assert torch.equal(got, want)


def test_only_adapters_trainable_and_budget_counts():
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=3, target_modules=("q_proj", "v_proj")))
    trainable = {n.rsplit(".", 1)[-1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"shared_A", "shared_B", "task_A", "task_B", "logits"}
    shapes = [(64, 64), (64, 32)] * 2  # q and v of two layers
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n == count_adapter_parameters(model.cpoly_config, shapes)


def test_padding_tokens_get_no_adapter_contribution():
    layer = single_layer(CPolyConfig(n_tasks=2))
    x = torch.randn(1, 3, 16)
    layer.task_ids = torch.tensor([[-1, -1, -1]])
    torch.testing.assert_close(layer(x), layer.base(x), rtol=0, atol=0)


def _loss_grads(model: nn.Module, x: torch.Tensor, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=False)
    with task_context(model, ids):
        logits = model(x).logits
    logits.float().pow(2).mean().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_task_skills_get_no_gradient_from_other_tasks():
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=3, n_task_skills=1)).train()
    randomize_b(model)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    x = torch.randint(0, VOCAB, (2, 8))
    ids = torch.tensor([[0, 0, 2, 2, 0, 2, -1, -1], [2, 2, 2, 0, 0, 0, 0, -1]])  # no task 1 anywhere
    grads = _loss_grads(model, x, ids)
    names = [n for n in grads if n.endswith(".task_A")]
    assert len(names) == 8  # q, k, v, o in two layers
    for name, g in grads.items():
        kind = name.rsplit(".", 1)[-1]
        if kind in ("task_A", "task_B"):
            assert torch.count_nonzero(g[1]) == 0, name
            assert g[0].abs().sum() > 0 and g[2].abs().sum() > 0, name
        elif kind == "logits":
            assert torch.count_nonzero(g[1]) == 0, name  # task 1's allocation row is unused
            assert g[0].abs().sum() > 0, name
        else:  # shared skills learn from every task
            assert g.abs().sum() > 0, name


def test_shared_skills_learn_from_a_single_task_batch():
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=3)).train()
    randomize_b(model)
    x = torch.randint(0, VOCAB, (1, 6))
    grads = _loss_grads(model, x, torch.tensor([1]))
    for name, g in grads.items():
        if name.endswith("shared_A") or name.endswith("shared_B"):
            assert g.abs().sum() > 0, name
        if name.endswith("task_A"):
            assert torch.count_nonzero(g[0]) == 0 and torch.count_nonzero(g[2]) == 0 and g[1].abs().sum() > 0


def test_mixed_tasks_in_one_sequence_route_per_token():
    layer = single_layer(CPolyConfig(n_tasks=3)).eval()
    x = torch.randn(1, 6, 16)
    mixed_ids = torch.tensor([[0, 1, 2, 2, 1, 0]])
    with torch.no_grad():
        layer.task_ids = mixed_ids
        mixed = layer(x)
        for t in range(3):
            layer.task_ids = torch.full((1, 6), t)
            pure = layer(x)
            sel = mixed_ids[0] == t
            torch.testing.assert_close(mixed[0, sel], pure[0, sel])
            assert not torch.allclose(mixed[0, ~sel], pure[0, ~sel])


def test_missing_or_bad_task_ids_raise_clear_errors():
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=2))
    x = torch.randint(0, VOCAB, (2, 5))
    with pytest.raises(RuntimeError, match="task_context"):
        model(x)
    with pytest.raises(ValueError, match="do not match"), task_context(model, torch.zeros(2, 4, dtype=torch.long)):
        model(x)
    with pytest.raises(ValueError, match="n_tasks=2"):
        set_task_ids(model, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="already has C-Poly"):
        apply_cpoly(model, CPolyConfig(n_tasks=2))
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=2, target_modules=("qkv",)))


def test_save_load_round_trip_gives_identical_logits(tmp_path):
    cfg = CPolyConfig.from_tasks({"medqa": 0, "pubmedqa": 2, "medmcqa": 1})
    assert cfg.task_names == ("medqa", "medmcqa", "pubmedqa")
    model = apply_cpoly(tiny_llama(), cfg).eval()
    randomize_b(model)
    x = torch.randint(0, VOCAB, (2, 7))
    ids = torch.tensor([[0, 1, 2, 0, 1, 2, -1], [2] * 7])
    with torch.no_grad(), task_context(model, ids):
        want = model(x).logits
    save_cpoly(model, cfg, tmp_path)
    meta = json.loads((tmp_path / "cpoly_config.json").read_text())
    assert meta["tasks"] == {"medqa": 0, "medmcqa": 1, "pubmedqa": 2}
    loaded = load_cpoly(tiny_llama(), tmp_path).eval()
    assert loaded.cpoly_config == cfg
    with torch.no_grad(), task_context(loaded, ids):
        got = loaded(x).logits
    assert torch.equal(got, want)
    assert adapter_state_dict(loaded).keys() == adapter_state_dict(model).keys()


def test_load_into_a_different_architecture_fails(tmp_path):
    cfg = CPolyConfig(n_tasks=2)
    save_cpoly(apply_cpoly(tiny_llama(), cfg), cfg, tmp_path)
    other = tiny_llama()
    other.model.layers = other.model.layers[:1]
    with pytest.raises(ValueError, match="does not fit"):
        load_cpoly(other, tmp_path)


def test_merge_task_folds_one_task_into_the_base():
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=3)).eval()
    randomize_b(model)
    x = torch.randint(0, VOCAB, (2, 7))
    with torch.no_grad(), task_context(model, torch.tensor([1, 1])):
        want = model(x).logits
    merged = merge_task(model, 1)
    assert not any(True for _ in cpoly_layers(merged))
    assert isinstance(merged.model.layers[0].self_attn.q_proj, nn.Linear)
    with torch.no_grad():
        got = merged(x).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert (got - tiny_llama()(x).logits).abs().max() > 1e-3  # the merge did change the model


def _load_bench():
    spec = importlib.util.spec_from_file_location("cpoly_vs_lora", ROOT / "bench" / "cpoly_vs_lora.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("cpoly_vs_lora", module)  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_cpoly_beats_a_budget_matched_lora_on_conflicting_tasks():
    bench = _load_bench()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny ops: extra threads only add contention
    try:
        r = bench.run_experiment(bench.Problem(vocab=8, steps=30, eval_batches=4, pretrain_steps=60))
    finally:
        torch.set_num_threads(threads)
    assert r["lora"]["params"] >= r["cpoly"]["params"] > 0.95 * r["lora"]["params"]
    assert r["cpoly_weights"]["params"] == r["cpoly"]["params"]
    assert r["cpoly"]["mean"] < r["lora"]["mean"]
    # Below what any task-blind model can reach: C-Poly really uses the task ids.
    assert r["cpoly"]["mean"] < r["mixture_floor"]


FSDP_SCRIPT = r"""
import os, sys, torch, torch.distributed as dist, torch.multiprocessing as mp
sys.path.insert(0, sys.argv[1])
from torch.distributed.fsdp import fully_shard
from tests.train.test_cpoly import tiny_llama, randomize_b, VOCAB
from curate.train.cpoly import CPolyConfig, apply_cpoly, task_context, adapter_state_dict

def worker(rank):
    dist.init_process_group("gloo", init_method="file://" + sys.argv[2], rank=rank, world_size=2)
    torch.manual_seed(3)
    x = torch.randint(0, VOCAB, (2, 8))
    ids = torch.tensor([[0, 0, 2, 2, 0, 2, -1, -1], [2, 2, 2, 0, 0, 0, 0, -1]])
    def step(model):
        with task_context(model, ids):
            loss = model(x).logits.float().pow(2).mean()
        loss.backward()
        return loss.detach()
    ref = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=3)).eval()
    randomize_b(ref)
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=3)).eval()
    randomize_b(model)
    want = step(ref)
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    got = step(model)
    assert torch.allclose(got, want, rtol=1e-5), (got, want)
    state = adapter_state_dict(model)
    grads = {n: p.grad.full_tensor() for n, p in model.named_parameters() if p.grad is not None}
    for n, p in ref.named_parameters():
        if p.requires_grad:
            assert torch.equal(state[n], p.detach()), n
            assert torch.allclose(grads[n], p.grad, rtol=1e-5, atol=1e-7), n
            if n.endswith("task_A"):
                assert torch.count_nonzero(grads[n][1]) == 0, n
        else:
            assert n not in grads, n
    dist.destroy_process_group()

mp.start_processes(worker, nprocs=2, start_method="fork")
"""


@pytest.mark.slow
def test_fsdp2_two_ranks_match_the_unsharded_adapter(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", FSDP_SCRIPT, str(ROOT), str(tmp_path / "rdzv")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_activation_checkpointing_recomputes_with_the_same_routing():
    x = torch.randint(0, VOCAB, (2, 8))
    ids = torch.tensor([[0, 1, 2, 2, 1, 0, -1, -1], [1] * 8])
    grads = []
    for checkpointing in (False, True):
        model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=3)).train()
        randomize_b(model)
        if checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        torch.manual_seed(11)  # same Gumbel noise in both runs; the recompute replays the RNG state
        with task_context(model, ids):
            loss = model(x).logits.float().pow(2).mean()
        loss.backward()  # outside the block, as a training loop does it
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    assert model.model.gradient_checkpointing
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=1e-5, atol=1e-7)


def test_eval_context_clears_the_ids():
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=2)).eval()
    x = torch.randint(0, VOCAB, (1, 4))
    with torch.no_grad(), task_context(model, torch.tensor([1])):
        model(x)
    with pytest.raises(RuntimeError, match="task_context"):
        model(x)


def test_weights_combine_averages_skill_parameters_into_one_module_per_task():
    cfg = CPolyConfig(n_tasks=3, n_shared=4, rank=2, n_task_skills=1, combine="weights")
    layer = single_layer(cfg).eval()
    x = torch.randn(3, 5, 16)
    ids = torch.tensor([0, 2, 1])
    set_task_ids(nn.Sequential(layer), ids)
    out = layer(x)
    w = torch.sigmoid(layer.logits.detach())
    w = w / w.sum(-1, keepdim=True)
    for b, t in enumerate(ids.tolist()):
        row = torch.cat([w[t], torch.eye(3)[t]])  # shared weights, then one task skill per task
        u = row / row.sum()  # a weighted average over all of the task's skills
        a_bank = torch.cat([layer.shared_A, layer.task_A.flatten(0, 1)]).detach()
        b_bank = torch.cat([layer.shared_B, layer.task_B.flatten(0, 1)]).detach()
        a_t, b_t = torch.einsum("k,kri->ri", u, a_bank), torch.einsum("k,kor->or", u, b_bank)
        expected = layer.base(x[b]) + cfg.scaling * (x[b] @ a_t.T) @ b_t.T
        torch.testing.assert_close(out[b], expected, rtol=1e-5, atol=1e-5)
    # not Eq. 1: the product of averages is not the average of products
    outputs = CPolyLinear(layer.base, CPolyConfig(n_tasks=3, n_shared=4, rank=2))
    outputs.load_state_dict(layer.state_dict())
    set_task_ids(nn.Sequential(outputs), ids)
    assert (outputs.eval()(x) - out).abs().max() > 1e-3


def test_weights_combine_keeps_tasks_apart_and_the_parameter_budget():
    cfg = CPolyConfig(n_tasks=2, n_shared=2, rank=2, combine="weights")
    layer = single_layer(cfg).train()
    set_task_ids(nn.Sequential(layer), torch.tensor([[0, 0, 0]]))
    layer(torch.randn(1, 3, 16)).sum().backward()
    assert layer.task_A.grad[1].abs().sum() == 0 and layer.task_B.grad[1].abs().sum() == 0
    assert layer.task_B.grad[0].abs().sum() > 0 and layer.logits.grad[1].abs().sum() == 0
    counts = {c: sum(p.numel() for p in CPolyLinear(nn.Linear(16, 12), CPolyConfig(n_tasks=2, combine=c))
                     .parameters() if p is not None) for c in ("outputs", "weights")}
    assert counts["outputs"] == counts["weights"]


def test_weights_combine_saves_loads_and_merges(tmp_path: Path):
    model = apply_cpoly(tiny_llama(), CPolyConfig(n_tasks=2, target_modules=("q_proj", "v_proj"), combine="weights",
                                                  task_names=("a", "b")))
    randomize_b(model)
    model.eval()
    ids = torch.randint(0, VOCAB, (1, 9))
    with task_context(model, torch.tensor([1])):
        expected = model(input_ids=ids).logits
    save_cpoly(model, model.cpoly_config, tmp_path)
    loaded = load_cpoly(tiny_llama(), tmp_path).eval()
    assert loaded.cpoly_config.combine == "weights"
    with task_context(loaded, torch.tensor([1])):
        torch.testing.assert_close(loaded(input_ids=ids).logits, expected, rtol=1e-5, atol=1e-5)
    merged = merge_task(loaded, 1)
    torch.testing.assert_close(merged(input_ids=ids).logits, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="combine must be"):
        CPolyConfig(n_tasks=1, combine="sum")
