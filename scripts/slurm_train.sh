#!/usr/bin/env bash
# Multi-node training on Slurm: one torchrun per node, 8 GPUs each, rendezvous on the first node.
#
#   sbatch --nodes 4 scripts/slurm_train.sh pretrain recipes/train/antglm-10b.toml [--resume] [--set k=v ...]
#   sbatch --nodes 5 scripts/slurm_train.sh instruct recipes/train/antglm-10b.toml
#
# Every argument after the stage and the recipe goes to `curate train`. Requeued jobs (--requeue,
# preemption) resume from the latest complete checkpoint when started with --resume.
#SBATCH --job-name=curate-train
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --exclusive
#SBATCH --output=%x-%j.out

set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: sbatch [--nodes N] $0 {pretrain|instruct|adapt} RECIPE [curate train options]" >&2
    exit 2
fi
stage=$1
recipe=$2
shift 2

head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
port=${MASTER_PORT:-29500}
gpus=${GPUS_PER_NODE:-8}
venv=${VENV:-.venv}

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
export TORCH_NCCL_ASYNC_ERROR_HANDLING=1

echo "curate train --stage $stage --config $recipe on $SLURM_NNODES node(s) x $gpus GPU(s), head $head:$port"
srun --kill-on-bad-exit=1 "$venv/bin/torchrun" \
    --nnodes "$SLURM_NNODES" \
    --nproc-per-node "$gpus" \
    --rdzv-id "$SLURM_JOB_ID" \
    --rdzv-backend c10d \
    --rdzv-endpoint "$head:$port" \
    -m curate train --stage "$stage" --config "$recipe" "$@"
