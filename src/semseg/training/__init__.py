"""TrainConfig, the training loop, losses, logs, transfer init, data parallelism."""
