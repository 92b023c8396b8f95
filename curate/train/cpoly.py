"""C-Poly: shared low-rank skills with a learned task-to-skill allocation, plus task-specific skills.

Each targeted `nn.Linear` becomes a `CPolyLinear` that keeps the frozen base layer and adds, with
``combine = "outputs"`` (the default, the seed's Eq. 1: a weighted sum of the skills' outputs)

    y = base(x) + scaling * ( sum_i w_i^t B_i A_i x  +  sum_j v_j B^t_j A^t_j x )

or, with ``combine = "weights"`` (Poly's form: one low-rank module per task whose parameters are the weighted
average of the skills' parameters, with the allocation row normalised over all of its skills)

    y = base(x) + scaling * B^t A^t x,   A^t = sum_k u_k^t A_k,  B^t = sum_k u_k^t B_k,  u^t = row_t / sum(row_t)

over the same skills, so both have the same trainable parameters.

- shared skills (A_i, B_i), i < n_shared, are used by every task; the allocation w^t comes from learnable
  logits Z[t, i] (one matrix per layer, as in Poly): training samples a Gumbel-sigmoid
  sigmoid((Z + logistic noise) / temperature), one draw per layer and forward from torch's global RNG
  (so seeded, and replayed by activation checkpointing); evaluation uses sigmoid(Z), the probability that
  the relaxed Bernoulli sample is 1 whatever the temperature; either is normalised over the skills,
  w / (sum w + eps);
- task-specific skills (A^t_j, B^t_j) belong to task t only. Their weights are fixed at v_j = 1 / n_task_skills
  (1 for the default single skill): a learnable scalar would only rescale B^t_j, which training already does.

Shared and task-specific skills are stacked into one bank of n_shared + n_tasks * n_task_skills rank-r skills,
so that a token's update is one weighted sum over the bank: the row of the paper's allocation matrix
W in R^{T x (A + T*B)} for the token's task, with zeros on other tasks' skills. Those exact zeros are what
keep other tasks' gradients out of task t's skills. Cost per token is that of a LoRA of rank
(n_shared + n_tasks * n_task_skills) * r ("outputs") or n_tasks * r ("weights"), fine for the handful of
tasks a stage-3 mix has.

Routing is per token (packs mix tasks): `task_context(model, task_ids)` hands the ids to every CPolyLinear;
id -1 (padding) gets no adapter contribution. Adapter tensors are plain nn.Parameters inside the
wrapped layer, so FSDP2's `fully_shard` per decoder layer shards them with the layer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_FILE = "cpoly_config.json"
WEIGHTS_FILE = "cpoly_adapter.safetensors"
ADAPTER_PARAMS = ("shared_A", "shared_B", "task_A", "task_B", "logits")
EPS = 1e-12


@dataclass(frozen=True)
class CPolyConfig:
    """Shape and initialisation of a C-Poly adapter (paper default: 4 shared skills + 1 task skill, rank 4)."""

    n_tasks: int
    n_shared: int = 4
    rank: int = 4
    n_task_skills: int = 1
    alpha: float = 8.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    temperature: float = 1.0
    logit_init: float = 1e-3  # Z ~ U(-logit_init, logit_init): near-uniform allocation at the start
    task_names: tuple[str, ...] = field(default=())  # index = task id, saved with the adapter
    combine: str = "outputs"  # "outputs": sum of the skills' outputs (Eq. 1); "weights": average of their parameters

    def __post_init__(self) -> None:
        if self.n_tasks <= 0 or self.rank <= 0 or self.n_shared < 0 or self.n_task_skills < 0:
            raise ValueError(f"cpoly: n_tasks and rank must be > 0, skill counts >= 0, got {self}")
        if self.n_shared + self.n_task_skills == 0:
            raise ValueError("cpoly: no skills at all (set n_shared or n_task_skills > 0)")
        if self.temperature <= 0:
            raise ValueError(f"cpoly: temperature must be > 0, got {self.temperature}")
        if self.combine not in ("outputs", "weights"):
            raise ValueError(f"cpoly: combine must be 'outputs' or 'weights', got {self.combine!r}")
        if self.task_names and len(self.task_names) != self.n_tasks:
            raise ValueError(f"cpoly: {len(self.task_names)} task names for n_tasks={self.n_tasks}")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        object.__setattr__(self, "task_names", tuple(self.task_names))

    @classmethod
    def from_tasks(cls, tasks: dict[str, int], **kwargs) -> CPolyConfig:
        """Config for a shard's `info.json` task map (name -> id, ids 0..T-1)."""
        ids = sorted(tasks.values())
        if ids != list(range(len(ids))):
            raise ValueError(f"cpoly: task ids must be 0..T-1, got {ids} (check packed/info.json)")
        names = tuple(sorted(tasks, key=tasks.__getitem__))
        return cls(n_tasks=len(names), task_names=names, **kwargs)

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


def allocation(logits: torch.Tensor, temperature: float, training: bool) -> torch.Tensor:
    """Task-to-skill weights [T, S]: Gumbel-sigmoid when training, sigmoid at eval, normalised over skills."""
    logits = logits.float()  # bf16 under mixed precision: sample and normalise in fp32
    if training:
        u = torch.rand_like(logits).clamp(EPS, 1 - EPS)
        w = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)
    else:
        w = torch.sigmoid(logits)
    return w / (w.sum(dim=-1, keepdim=True) + EPS)


class CPolyLinear(nn.Module):
    """A frozen nn.Linear plus a C-Poly skill bank routed by per-token task ids."""

    def __init__(self, base: nn.Linear, cfg: CPolyConfig) -> None:
        super().__init__()
        self.base = base
        self.cfg = cfg
        self.task_ids: torch.Tensor | None = None
        fan_in, fan_out = base.in_features, base.out_features
        kw = {"device": base.weight.device, "dtype": torch.float32}
        s, t, b, r = cfg.n_shared, cfg.n_tasks, cfg.n_task_skills, cfg.rank
        self.shared_A = nn.Parameter(torch.empty(s, r, fan_in, **kw))
        self.shared_B = nn.Parameter(torch.empty(s, fan_out, r, **kw))
        self.task_A = nn.Parameter(torch.empty(t, b, r, fan_in, **kw))
        self.task_B = nn.Parameter(torch.empty(t, b, fan_out, r, **kw))
        self.logits = nn.Parameter(torch.empty(t, s, **kw))
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.reset_adapter_parameters()

    def reset_adapter_parameters(self) -> None:
        """LoRA init: A Kaiming-uniform, B zero (the adapted model starts equal to the base model)."""
        with torch.no_grad():
            for a in (self.shared_A, self.task_A):
                # Same bound as nn.Linear / PEFT LoRA for a fan_in-wide weight.
                bound = 1.0 / math.sqrt(a.shape[-1])
                a.uniform_(-bound, bound)
            self.shared_B.zero_()
            self.task_B.zero_()
            self.logits.uniform_(-self.cfg.logit_init, self.cfg.logit_init)

    def allocation_table(self) -> torch.Tensor:
        """The paper's allocation matrix [T, S + T*B]: each task's weights over the whole skill bank."""
        cfg = self.cfg
        w = allocation(self.logits, cfg.temperature, self.training)  # [T, S]
        v = torch.full((cfg.n_task_skills,), 1.0 / max(cfg.n_task_skills, 1), device=w.device, dtype=w.dtype)
        own = torch.block_diag(*([v[None, :]] * cfg.n_tasks)) if cfg.n_task_skills else w.new_zeros(cfg.n_tasks, 0)
        table = torch.cat([w, own], dim=1)
        if cfg.combine == "weights":  # a weighted average of the skills' parameters
            table = table / (table.sum(dim=-1, keepdim=True) + EPS)
        return table

    def skill_weights(self, task_ids: torch.Tensor) -> torch.Tensor:
        """Per-token weights over the whole skill bank, [..., n_shared + n_tasks * n_task_skills]."""
        return self._one_hot(task_ids) @ self.allocation_table()

    def _one_hot(self, task_ids: torch.Tensor) -> torch.Tensor:
        # A one-hot matmul rather than indexing: its backward is a matmul, not a scatter-add; padding (-1) gets zeros.
        onehot = nn.functional.one_hot(task_ids.clamp(min=0), self.cfg.n_tasks).float()
        return onehot * (task_ids >= 0).unsqueeze(-1).float()

    def bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All skills stacked: A [K, r, in] and B [K, out, r], shared first, then task-major task skills."""
        a = torch.cat([self.shared_A, self.task_A.flatten(0, 1)], dim=0)
        b = torch.cat([self.shared_B, self.task_B.flatten(0, 1)], dim=0)
        return a, b

    def _token_ids(self, x: torch.Tensor) -> torch.Tensor:
        ids = self.task_ids
        if ids is None:
            raise RuntimeError("cpoly: no task ids set; wrap the forward in `with task_context(model, task_ids):`")
        ids = ids.to(x.device)
        lead = x.shape[:-1]
        if ids.dim() == 1 and len(lead) >= 1 and ids.shape[0] == lead[0]:
            ids = ids.view(-1, *([1] * (len(lead) - 1))).expand(lead)  # one id per sequence
        if ids.shape != lead:
            raise ValueError(f"cpoly: task ids of shape {tuple(ids.shape)} do not match input {tuple(lead)} "
                             "(pass [B, L] per-token or [B] per-sequence ids)")
        return ids

    def task_modules(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Poly's per-task modules: A^t [T, r, in] and B^t [T, out, r], the weighted averages of the skills."""
        table = self.allocation_table()
        a, b = self.bank()
        return torch.einsum("tk,kri->tri", table.to(a.dtype), a), torch.einsum("tk,kor->tor", table.to(b.dtype), b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        ids = self._token_ids(x)
        if self.cfg.combine == "weights":
            a, b = self.task_modules()  # one rank-r module per task, each token through its own task's
            select = self._one_hot(ids)  # [..., T]
        else:
            a, b = self.bank()  # every skill, each token weighted by its task's allocation row
            select = self.skill_weights(ids)  # [..., K]
        k, r = a.shape[0], a.shape[1]
        xa = self.dropout(x).to(a.dtype)
        h = (xa @ a.reshape(k * r, -1).T).unflatten(-1, (k, r))  # [..., K, r]
        h = (h * select.unsqueeze(-1).to(h.dtype)).flatten(-2)
        delta = h @ b.permute(1, 0, 2).reshape(b.shape[1], k * r).T  # [..., out]
        return out + (self.cfg.scaling * delta).to(out.dtype)

    def delta_weight(self, task_id: int) -> torch.Tensor:
        """The dense update [out, in] that task `task_id` adds at eval (for merging)."""
        if self.cfg.combine == "weights":
            a, b = self.task_modules()
            return self.cfg.scaling * b[task_id] @ a[task_id]
        weights = self.allocation_table()[task_id]  # [K]
        a, b = self.bank()
        return self.cfg.scaling * torch.einsum("k,kor,kri->oi", weights, b, a)


def cpoly_layers(model: nn.Module) -> Iterator[tuple[str, CPolyLinear]]:
    """Every CPolyLinear in `model` with its qualified name."""
    for name, module in model.named_modules():
        if isinstance(module, CPolyLinear):
            yield name, module


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def apply_cpoly(model: nn.Module, cfg: CPolyConfig) -> nn.Module:
    """Wrap each targeted nn.Linear of `model` in a CPolyLinear (in place) and freeze everything else."""
    if any(True for _ in cpoly_layers(model)):
        raise ValueError("cpoly: model already has C-Poly layers (apply_cpoly once, or load_cpoly on a clean base)")
    targets = [(n, m) for n, m in model.named_modules()
               if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in cfg.target_modules]
    if not targets:
        raise ValueError(f"cpoly: no nn.Linear named {list(cfg.target_modules)} in the model (check target_modules)")
    for name, linear in targets:
        _replace(model, name, CPolyLinear(linear, cfg))
    model.cpoly_config = cfg
    mark_only_adapters_trainable(model)
    return model


def mark_only_adapters_trainable(model: nn.Module) -> None:
    """requires_grad on C-Poly adapter parameters only."""
    for p in model.parameters():
        p.requires_grad_(False)
    for _, layer in cpoly_layers(model):
        for name in ADAPTER_PARAMS:
            getattr(layer, name).requires_grad_(True)


def set_task_ids(model: nn.Module, task_ids: torch.Tensor | None) -> None:
    """Route the next forwards: per-token [B, L] or per-sequence [B] task ids (-1 = no adapter); None clears."""
    if task_ids is not None:
        if task_ids.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"cpoly: task ids must be an integer tensor, got {task_ids.dtype}")
        cfg = getattr(model, "cpoly_config", None)
        # Checked once here rather than in every layer: .max() is a host sync on GPU.
        if cfg is not None and task_ids.numel() and int(task_ids.max()) >= cfg.n_tasks:
            raise ValueError(f"cpoly: task id {int(task_ids.max())} >= n_tasks={cfg.n_tasks} "
                             "(the adapter was built for fewer tasks than the shards hold)")
    for _, layer in cpoly_layers(model):
        layer.task_ids = task_ids


@contextmanager
def task_context(model: nn.Module, task_ids: torch.Tensor) -> Iterator[nn.Module]:
    """`with task_context(model, batch["task_ids"]): loss = ...(model(...))`; `loss.backward()` may follow outside.

    In training with grad enabled the ids stay set after the block: activation checkpointing re-runs the
    layers' forward during the backward, which usually comes after the block. They are replaced by the next
    task_context; otherwise (eval, no_grad) they are cleared on exit.
    """
    set_task_ids(model, task_ids)
    try:
        yield model
    finally:
        if not (model.training and torch.is_grad_enabled()):
            set_task_ids(model, None)


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors by qualified name, full (gathered) when FSDP2 has sharded them; collective under FSDP."""
    state = {}
    for name, layer in cpoly_layers(model):
        for pname in ADAPTER_PARAMS:
            p = getattr(layer, pname).detach()
            if hasattr(p, "full_tensor"):  # DTensor under FSDP2
                p = p.full_tensor()
            state[f"{name}.{pname}"] = p.cpu().contiguous()
    return state


def save_cpoly(model: nn.Module, cfg: CPolyConfig, out_dir: str | Path) -> Path:
    """Write `cpoly_adapter.safetensors` and `cpoly_config.json` (with the task name -> id map) to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = adapter_state_dict(model)
    if not state:
        raise ValueError("cpoly: model has no C-Poly layers to save (call apply_cpoly first)")
    save_file(state, str(out / WEIGHTS_FILE))
    meta = asdict(cfg)
    meta["tasks"] = {name: i for i, name in enumerate(cfg.task_names)}
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out


def load_config(out_dir: str | Path) -> CPolyConfig:
    """Read `cpoly_config.json` back into a CPolyConfig."""
    path = Path(out_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"cpoly: no {CONFIG_FILE} in '{out_dir}' (is this a save_cpoly directory?)")
    meta = json.loads(path.read_text())
    meta.pop("tasks", None)  # adapters saved before `combine` existed summed outputs, its default
    for key in ("target_modules", "task_names"):
        meta[key] = tuple(meta[key])
    return CPolyConfig(**meta)


def load_cpoly(base_model: nn.Module, out_dir: str | Path) -> nn.Module:
    """Apply the saved C-Poly adapter of `out_dir` to a clean `base_model` and load its weights."""
    cfg = load_config(out_dir)
    model = apply_cpoly(base_model, cfg)
    state = load_file(str(Path(out_dir) / WEIGHTS_FILE))
    expected = adapter_state_dict(model)
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"cpoly: adapter in '{out_dir}' does not fit this base model "
                         f"(missing {missing[:3]}, unexpected {extra[:3]})")
    with torch.no_grad():
        for name, layer in cpoly_layers(model):
            for pname in ADAPTER_PARAMS:
                getattr(layer, pname).copy_(state[f"{name}.{pname}"])
    return model


def merge_task(model: nn.Module, task_id: int) -> nn.Module:
    """Fold task `task_id`'s adapter (eval allocation) into the base weights and unwrap: a plain model for one task."""
    cfg: CPolyConfig = model.cpoly_config
    if not 0 <= task_id < cfg.n_tasks:
        raise ValueError(f"cpoly: task id {task_id} out of range 0..{cfg.n_tasks - 1}")
    with torch.no_grad():
        for name, layer in list(cpoly_layers(model)):
            was_training = layer.training
            layer.eval()
            delta = layer.delta_weight(task_id)
            layer.train(was_training)
            base = layer.base
            base.weight.copy_((base.weight.float() + delta).to(base.weight.dtype))
            _replace(model, name, base)
    del model.cpoly_config
    return model


def count_adapter_parameters(cfg: CPolyConfig, shapes: Sequence[tuple[int, int]]) -> int:
    """Trainable parameters of C-Poly over linear layers of the given (in, out) shapes (either combine)."""
    per_rank = cfg.rank * (cfg.n_shared + cfg.n_tasks * cfg.n_task_skills)
    return sum(per_rank * (i + o) + cfg.n_tasks * cfg.n_shared for i, o in shapes)


def count_lora_parameters(rank: int, shapes: Sequence[tuple[int, int]]) -> int:
    """Trainable parameters of a LoRA of ``rank`` over linear layers of the given (in, out) shapes."""
    return sum(rank * (i + o) for i, o in shapes)


def target_shapes(model: nn.Module, target_modules: Sequence[str]) -> list[tuple[int, int]]:
    """(in, out) of every nn.Linear an adapter with ``target_modules`` would wrap (works on a meta model)."""
    return [(m.in_features, m.out_features) for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in target_modules]
