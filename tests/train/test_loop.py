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
    for step in (0, 1, 6):  # 6: the batch crosses into the second epoch
        one = [i for mb in batches.micro_batches(step, Dist(0, 1, 0, CPU)) for i in mb]
        two = [i for r in range(2) for mb in batches.micro_batches(step, Dist(r, 2, r, CPU)) for i in mb]
        assert one == two and len(one) == 8
        assert all(len(mb) == 2 for mb in batches.micro_batches(step, Dist(1, 2, 1, CPU)))
    epoch0 = [batches.index(p) for p in range(50)]
    epoch1 = [batches.index(p) for p in range(50, 100)]
    assert sorted(epoch0) == sorted(epoch1) == list(range(50)) and epoch0 != epoch1
    assert epoch0 == [loop.GlobalBatches(50, 8, 2, shuffle=True, seed=3).index(p) for p in range(50)]
    assert [loop.GlobalBatches(50, 8, 2, shuffle=False, seed=3).index(p) for p in (0, 49, 50)] == [0, 49, 0]


def test_adapt_batches_count_examples_and_never_cross_an_epoch() -> None:
    batches = loop.EpochBatches(30, 12, 3, shuffle=True, seed=5)
    assert batches.steps_per_epoch == 3
    for epoch in range(3):
        sizes = [len(batches.global_batch_at(epoch * 3 + k)) for k in range(3)]
        seen = [i for k in range(3) for i in batches.global_batch_at(epoch * 3 + k)]
        assert sizes == [12, 12, 6] and sorted(seen) == list(range(30))  # every example once per epoch
    assert batches.global_batch_at(0) != batches.global_batch_at(3)  # a fresh order each epoch
    # The short batch on 2 ranks: rank 0 holds its 6 examples, rank 1 idles through its two micro-batches.
    assert [len(m) for m in batches.micro_batches(2, Dist(0, 2, 0, CPU))] == [3, 3]
    assert [len(m) for m in batches.micro_batches(2, Dist(1, 2, 1, CPU))] == [0, 0]
    one = [i for m in batches.micro_batches(2, Dist(0, 1, 0, CPU)) for i in m]
    assert one == batches.global_batch_at(2)


def test_ten_epochs_of_n_examples_at_batch_12_give_ceil_n_over_12_times_10_steps(
        tmp_path: Path, builds: tuple[Path, Path]) -> None:
    from curate.tokens import packed

    recipe = write_recipe(tmp_path / "r.toml", *builds, tmp_path / "run", pretrain={"train_iters": 1},
                          adapt={"train_iters": None, "train_epochs": 10, "global_batch_size": 12,
                                 "micro_batch_size": 3, "init": str(tmp_path / "run" / "pretrain" / "export")})
    loop.train(load_config(recipe, "pretrain"), init_distributed(), data=toy_data())
    cfg = load_config(recipe, "adapt")
    data = loop.stage_data(cfg)
    n = int(sum(len(row["boundaries"]) - 1 for row in packed.PackedReader(builds[1])))
    assert len(data.train) == n and data.unit == "example"
    assert loop.iterations(cfg, data) == math.ceil(n / 12) * 10
    two = load_config(recipe, "adapt", {"train_epochs": 2, "save": str(tmp_path / "two")})
    losses = loop.train(two, init_distributed(), data=data)
    assert len(losses) == math.ceil(n / 12) * 2
    rows = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    per_epoch = math.ceil(n / 12)
    assert [r["examples"] for r in rows[:per_epoch]] == [12] * (per_epoch - 1) + [n - 12 * (per_epoch - 1)]
    assert sum(r["examples"] for r in rows) == 2 * n
    assert all(0 < r["loss_tokens"] < r["tokens"] for r in rows)


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
    whole_loss = loop.train_step(model, [data.collate(rows)], env, routed=False).loss
    whole = _grads(model)
    model.zero_grad()
    split = [data.collate(rows[i:i + 1]) for i in range(8)]
    split_loss = loop.train_step(model, [*split, loop.idle_batch(split[0])], env, routed=False).loss
    assert split_loss == pytest.approx(whole_loss, rel=1e-6)  # an idle micro-batch adds nothing
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


def test_cpoly_adapt_exports_an_adapter(tmp_path: Path, builds: tuple[Path, Path], capsys) -> None:
    import re

    from transformers import AutoModelForCausalLM

    from curate.train import cpoly
    from curate.train.lora import apply_lora, trainable_parameters

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
    # The trainer states both adapters' trainable parameters; the numbers are those of the real modules.
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("trainable parameters"))
    lora_n, cpoly_n = (int(n.replace(",", "")) for n in re.findall(r"r \d+: ([\d,]+)", line))
    assert cpoly_n == sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    fresh = apply_lora(AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "pretrain" / "export"), r=8)
    assert lora_n == trainable_parameters(fresh)


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


def test_pretrain_states_epochs_per_source_and_warns_above_the_repeat_limit(recipe: Path, capsys) -> None:
    short = loop.stage_data(load_config(recipe, "pretrain"))
    assert short.notes[0] == "pretrain: blend at 3,072 tokens (48 samples of 64):" and not short.warnings
    long = loop.stage_data(load_config(recipe, "pretrain", ["train_iters=200"]))
    rows = {line.split()[0]: line.split() for line in long.notes[2:]}
    assert set(rows) == {"count", "skip"} and float(rows["count"][1]) == 0.7
    assert float(rows["count"][-1]) > 4 and long.warnings[0].startswith("count would be repeated")
    loop.train(load_config(recipe, "pretrain", ["train_iters=200"]), init_distributed(), stop_after=1)
    printed = capsys.readouterr()
    assert "blend at 102,400 tokens" in printed.out and "warning: count would be repeated" in printed.err
