"""PyTorch lane: the built-in architectures as nn.Modules (NCHW), an explicit training loop."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rosetta import contract
from rosetta.core.atomic import atomic_file
from rosetta.models import architectures as arch
from rosetta.models.architectures import Weights
from rosetta.models.common import EpochCallback, EpochTimer, History, TrainConfig, learning_rate_at, shuffled_batches

CHECKPOINT = "model.pt"  # a state_dict, loaded back with weights_only=True
DISTRIBUTIONS = ("torch",)


def _glorot(*layers: nn.Module) -> None:
    """The Keras defaults, shared by every lane (see models.architectures)."""
    for layer in layers:
        nn.init.xavier_uniform_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


class MLP(nn.Module):
    """images [B, 28, 28] -> probabilities [B, 10]; `logits` is what training optimises."""
    architecture = arch.MLP

    def __init__(self) -> None:
        super().__init__()
        sizes = contract.LAYER_SIZES
        self.flatten = nn.Flatten()
        # hidden + output rather than one list sliced in forward: TorchScript cannot slice a ModuleList.
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-2], sizes[1:-1]))
        self.output = nn.Linear(sizes[-2], sizes[-1])
        _glorot(*self.hidden, self.output)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        x = self.flatten(images)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.output(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(images), dim=-1)


class CNN(nn.Module):
    """images [B, 28, 28] -> probabilities [B, 10], NCHW inside (see models.architectures)."""
    architecture = arch.CNN

    def __init__(self) -> None:
        super().__init__()
        (c1, c2), k = arch.CONV_FILTERS, arch.CONV_KERNEL
        self.conv1 = nn.Conv2d(1, c1, k, padding="valid")
        self.conv2 = nn.Conv2d(c1, c2, k, padding="valid", bias=False)
        self.norm = nn.BatchNorm2d(c2, eps=arch.BN_EPSILON, momentum=1.0 - arch.BN_MOMENTUM)
        self.pool = nn.MaxPool2d(arch.POOL)
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(arch.FLAT_FEATURES, arch.CNN_DENSE_UNITS)
        self.output = nn.Linear(arch.CNN_DENSE_UNITS, contract.NUM_CLASSES)
        _glorot(self.conv1, self.conv2, self.dense, self.output)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(images.unsqueeze(1))))
        x = self.pool(torch.relu(self.norm(self.conv2(x))))
        return self.output(torch.relu(self.dense(self.flatten(x))))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(images), dim=-1)


Model = MLP | CNN
_CLASSES: dict[str, type[nn.Module]] = {arch.MLP: MLP, arch.CNN: CNN}


def build(model: str = arch.MLP, seed: int = contract.SEED) -> Model:
    cls = _CLASSES[arch.check_architecture(model)]
    torch.manual_seed(seed)
    return cls()


def make_optimizer(parameters: Iterable[nn.Parameter], config: TrainConfig, examples: int
                   ) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam on the shared warm-up + cosine schedule: the lane's optimizer, on one device or many."""
    # fused: one kernel for all parameters; the default per-tensor Adam doubles the step time here.
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, fused=True)
    factor = partial(_schedule_factor, examples=examples, config=config)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _schedule_factor(step: int, examples: int, config: TrainConfig) -> float:
    return learning_rate_at(step, examples, config) / config.learning_rate


def loss_function(config: TrainConfig) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def step(logits_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
         loss_fn: nn.Module, optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
         timer: EpochTimer) -> None:
    """One training step (forward, backward, Adam, schedule), on one device or as one DDP rank's shard."""
    logits = logits_of(x)
    loss = loss_fn(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    timer.add(loss.item(), int((logits.argmax(1) == y).sum()), len(y))


def train(model: Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
          on_epoch: EpochCallback | None = None) -> tuple[Model, History]:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    optimizer, schedule = make_optimizer(model.parameters(), config, len(labels))
    loss_fn = loss_function(config)
    history = History()
    model.train()
    for epoch in range(1, config.epochs + 1):
        timer = EpochTimer(epoch)
        for batch in shuffled_batches(len(labels), config.batch_size, rng):
            idx = torch.from_numpy(batch)  # a numpy index takes torch's slow indexing path
            step(model.logits, x_all[idx], y_all[idx], loss_fn, optimizer, schedule, timer)
        history.epochs.append(timer.stats())
        if on_epoch:
            on_epoch(history.epochs[-1])
    model.eval()
    return model, history


@torch.inference_mode()
def predict(model: Model, images: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size]))).numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32)


def export_source(model: Model) -> nn.Module:
    """The eval-mode module the exporters trace: forward(images [B, 28, 28]) -> probabilities."""
    return model.eval()


def save(model: Model, directory: Path) -> Path:
    path = Path(directory) / CHECKPOINT
    with atomic_file(path) as tmp:
        torch.save(model.state_dict(), tmp)
    arch.write_architecture(directory, model.architecture)
    return path


def load(directory: Path) -> Model:
    model = build(arch.read_architecture(directory), 0)
    model.load_state_dict(torch.load(Path(directory) / CHECKPOINT, weights_only=True))
    return model.eval()


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


def get_weights(model: Model) -> Weights:
    if isinstance(model, MLP):
        return [(_numpy(layer.weight).T, _numpy(layer.bias)) for layer in (*model.hidden, model.output)]
    hwio = (2, 3, 1, 0)  # torch conv kernels are OIHW
    return [(_numpy(model.conv1.weight).transpose(hwio), _numpy(model.conv1.bias)),
            (_numpy(model.conv2.weight).transpose(hwio),),
            tuple(_numpy(t) for t in (model.norm.weight, model.norm.bias, model.norm.running_mean,
                                      model.norm.running_var)),
            (arch.nhwc_dense_rows_from_torch(_numpy(model.dense.weight)).copy(), _numpy(model.dense.bias)),
            (_numpy(model.output.weight).T, _numpy(model.output.bias))]


def set_weights(model: Model, weights: Weights) -> Model:
    arch.check_weights(model.architecture, weights)
    if isinstance(model, MLP):
        targets = [(layer.weight, layer.bias) for layer in (*model.hidden, model.output)]
        arrays = [(kernel.T, bias) for kernel, bias in weights]
    else:
        oihw = (3, 2, 0, 1)
        (k1, b1), (k2,), bn, (k3, b3), (k4, b4) = weights
        targets = [(model.conv1.weight, model.conv1.bias), (model.conv2.weight,),
                   (model.norm.weight, model.norm.bias, model.norm.running_mean, model.norm.running_var),
                   (model.dense.weight, model.dense.bias), (model.output.weight, model.output.bias)]
        arrays = [(k1.transpose(oihw), b1), (k2.transpose(oihw),), bn,
                  (arch.torch_dense_rows_from_nhwc(k3), b3), (k4.T, b4)]
    with torch.no_grad():
        for layer_targets, layer_arrays in zip(targets, arrays, strict=True):
            for target, array in zip(layer_targets, layer_arrays, strict=True):
                target.copy_(torch.from_numpy(np.array(array, dtype=np.float32)))  # a writable copy
    return model
