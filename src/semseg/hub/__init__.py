"""Self-describing checkpoints, fp16 safetensors releases, named pretrained models."""
