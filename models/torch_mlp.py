"""PyTorch lane: an explicit training loop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.common import EpochCallback, EpochTimer, History, TrainConfig, Weights, shuffled_batches, total_steps
from rosetta import contract
from rosetta.atomic import atomic_file

CHECKPOINT = "model.pt"  # a state_dict, loaded back with weights_only=True
DISTRIBUTIONS = ("torch",)


class MLP(nn.Module):
    """images [B, 28, 28] -> probabilities [B, 10]; `logits` is what training optimises."""

    def __init__(self) -> None:
        super().__init__()
        sizes = contract.LAYER_SIZES
        self.flatten = nn.Flatten()
        # hidden + output rather than one list sliced in forward: TorchScript cannot slice a ModuleList.
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-2], sizes[1:-1]))
        self.output = nn.Linear(sizes[-2], sizes[-1])
        for layer in self.dense_layers():  # the Keras defaults, shared by every lane (see models.common)
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    @torch.jit.unused
    def dense_layers(self) -> list[nn.Linear]:
        return [*self.hidden, self.output]

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        x = self.flatten(images)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.output(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(images), dim=-1)


Model = MLP


def build(seed: int = contract.SEED) -> MLP:
    torch.manual_seed(seed)
    return MLP()


def train(model: MLP, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
          on_epoch: EpochCallback | None = None) -> tuple[MLP, History]:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    # fused: one kernel for all parameters; the default per-tensor Adam doubles the step time here.
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps(len(labels), config))
    loss_fn = nn.CrossEntropyLoss()
    history = History()
    model.train()
    for epoch in range(1, config.epochs + 1):
        timer = EpochTimer(epoch)
        for batch in shuffled_batches(len(labels), config.batch_size, rng):
            idx = torch.from_numpy(batch)  # a numpy index takes torch's slow indexing path
            x, y = x_all[idx], y_all[idx]
            logits = model.logits(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            timer.add(loss.item(), int((logits.argmax(1) == y).sum()), len(idx))
        history.epochs.append(timer.stats())
        if on_epoch:
            on_epoch(history.epochs[-1])
    model.eval()
    return model, history


@torch.inference_mode()
def predict(model: MLP, images: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size]))).numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32)


def save(model: MLP, directory: Path) -> Path:
    path = Path(directory) / CHECKPOINT
    with atomic_file(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return path


def load(directory: Path) -> MLP:
    model = MLP()
    model.load_state_dict(torch.load(Path(directory) / CHECKPOINT, weights_only=True))
    return model.eval()


def get_weights(model: MLP) -> Weights:
    return [(layer.weight.detach().numpy().T.copy(), layer.bias.detach().numpy().copy())
            for layer in model.dense_layers()]


def set_weights(model: MLP, weights: Weights) -> MLP:
    with torch.no_grad():
        for layer, (kernel, bias) in zip(model.dense_layers(), weights, strict=True):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
            layer.bias.copy_(torch.from_numpy(bias))
    return model
