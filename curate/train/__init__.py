"""Training: three stages on torchrun (FSDP2 on GPUs, gloo on CPU), LoRA and C-Poly adapters."""
