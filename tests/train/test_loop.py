"""The training loop: batch sharding, loss normalisation, the three stages end to end, exports and logs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from curate.train import loop
from curate.train.config import load_config
from curate.train.engine import Dist, init_distributed

from .conftest import TASKS, toy_data, write_recipe

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def test_global_batches_are_the_same_for_any_world_size() -> None:
    batches = loop.GlobalBatches(50, 8, 2, shuffle=True, seed=3)
    for consumed in (0, 8, 48):  # 48: the batch crosses into the second epoch
        one = [i for mb in batches.micro_batches(consumed, Dist(0, 1, 0, CPU)) for i in mb]
        two = [i for r in range(2) for mb in batches.micro_batches(consumed, Dist(r, 2, r, CPU)) for i in mb]
        assert one == two and len(one) == 8
        assert all(len(mb) == 2 for mb in batches.micro_batches(consumed, Dist(1, 2, 1, CPU)))
    epoch0 = [batches.index(p) for p in range(50)]
    epoch1 = [batches.index(p) for p in range(50, 100)]
    assert sorted(epoch0) == sorted(epoch1) == list(range(50)) and epoch0 != epoch1
    assert epoch0 == [loop.GlobalBatches(50, 8, 2, shuffle=True, seed=3).index(p) for p in range(50)]
    assert [loop.GlobalBatches(50, 8, 2, shuffle=False, seed=3).index(p) for p in (0, 49, 50)] == [0, 49, 0]


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def test_loss_is_normalised_by_the_global_batch_not_the_micro_batch() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from .conftest import TINY_MODEL

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**TINY_MODEL))
    data = toy_data(n=8)
    rows = [data.train[i] for i in range(8)]
    env = Dist(0, 1, 0, CPU)
    whole_loss, _ = loop.train_step(model, [data.collate(rows)], env, routed=False)
    whole = _grads(model)
    model.zero_grad()
    split_loss, _ = loop.train_step(model, [data.collate(rows[i:i + 1]) for i in range(8)], env, routed=False)
    assert split_loss == pytest.approx(whole_loss, rel=1e-6)
    for a, b in zip(whole, _grads(model), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    # A per-micro-batch mean would weight the masked-out-heavy rows differently:
    batch = data.collate(rows)
    per_micro = torch.stack([torch.nn.functional.cross_entropy(
        model(input_ids=batch["input_ids"][i:i + 1]).logits[0], batch["labels"][i], ignore_index=-100)
        for i in range(8)]).mean().item()
    assert abs(per_micro - whole_loss) > 1e-3


def test_three_stages_chain_through_exports(tmp_path: Path, builds: tuple[Path, Path]) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    recipe = write_recipe(tmp_path / "r.toml", *builds, tmp_path / "run", adapt={"merge": True})
    env = init_distributed()
    for stage in ("pretrain", "instruct", "adapt"):
        losses = loop.train(load_config(recipe, stage), env, data=toy_data(packed=stage != "pretrain"))
        assert len(losses) == 6
    pretrain, adapt = tmp_path / "run" / "pretrain", tmp_path / "run" / "adapt"
    model = AutoModelForCausalLM.from_pretrained(pretrain / "export")
    assert AutoTokenizer.from_pretrained(pretrain / "export").pad_token == "<|pad|>"
    instruct = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "instruct" / "export")
    assert not torch.equal(model.lm_head.weight, instruct.lm_head.weight)  # instruct trained from the export
    peft = PeftModel.from_pretrained(instruct, adapt / "export")
    merged = AutoModelForCausalLM.from_pretrained(adapt / "export" / "merged")
    ids = torch.randint(8, 200, (1, 16))
    torch.testing.assert_close(peft(input_ids=ids).logits, merged(input_ids=ids).logits, rtol=1e-4, atol=1e-4)
    rows = [json.loads(line) for line in (pretrain / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == list(range(1, 7))
    assert {"loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mfu", "elapsed"} <= set(rows[0])
    assert rows[0]["mfu"] is None and rows[0]["tokens"] == 8 * 32  # no peak FLOPs known on CPU


def test_cpoly_adapt_exports_an_adapter(tmp_path: Path, builds: tuple[Path, Path]) -> None:
    from transformers import AutoModelForCausalLM

    from curate.train import cpoly

    recipe = write_recipe(tmp_path / "r.toml", *builds, tmp_path / "run",
                          pretrain={"train_iters": 2}, adapt={"method": "cpoly", "train_iters": 4})
    env = init_distributed()
    loop.train(load_config(recipe, "pretrain"), env, data=toy_data())
    cfg = load_config(recipe, "adapt", {"init": str(tmp_path / "run" / "pretrain" / "export")})
    losses = loop.train(cfg, env, data=toy_data(packed=True))
    assert len(losses) == 4
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "pretrain" / "export")
    adapted = cpoly.load_cpoly(base, tmp_path / "run" / "adapt" / "export")
    assert cpoly.load_config(tmp_path / "run" / "adapt" / "export").task_names == tuple(TASKS)
    assert any(True for _ in cpoly.cpoly_layers(adapted))


def test_missing_build_says_what_to_run(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path / "r.toml", tmp_path / "nowhere", tmp_path / "nowhere", tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="make corpus"):
        loop.stage_data(load_config(recipe, "pretrain"))
    cfg = load_config(recipe, "instruct")
    with pytest.raises(FileNotFoundError, match="run the previous stage first"):
        loop.build_stage_model(cfg, toy_data())


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def test_losses_fall_on_megatron_and_packed_shards(recipe: Path) -> None:
    pretrain = loop.main("pretrain", str(recipe), overrides=["train_iters=16"])
    instruct = loop.main("instruct", str(recipe), overrides=["train_iters=16", "eval_interval=8", "eval_iters=1"])
    assert _mean(pretrain[-3:]) < _mean(pretrain[:3]) - 0.5
    assert _mean(instruct[-3:]) < _mean(instruct[:3]) - 0.5
    log = recipe.parent / "run" / "instruct" / "log.jsonl"
    evals = [json.loads(line)["eval_loss"] for line in log.read_text().splitlines() if "eval_loss" in line]
    assert len(evals) == 2 and evals[1] < evals[0]


def test_glm_objective_trains(recipe: Path) -> None:
    losses = loop.main("pretrain", str(recipe), overrides=["objective='glm'", "train_iters=3"])
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
