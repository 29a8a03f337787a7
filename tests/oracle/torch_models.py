"""torch_models.py - PyTorch definitions of the advcc models, built to match
the generated C tensor for tensor (same names, shapes and semantics), for the
reference check (oracle.py) and the benchmark (tests/bench/bench.py).

The seed CNN, METHODS.md 1: a Normalize layer (pixels in [0,1] in, per-channel
(x - mean) / std), three blocks Conv(5x5 or 3x3, stride 1, "same" padding,
with bias) - BatchNorm2d - ReLU - AvgPool2d(2), flatten, Linear -> ReLU ->
Linear -> ReLU -> Linear (logits).  Parameter names follow the C side:
conv1.weight, conv1.bias, bn1.weight, bn1.bias, bn1.running_mean,
bn1.running_var, ..., fc1.weight, ..., fc3.bias.
"""
import numpy as np
import torch
import torch.nn as nn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
FASHION_MEAN = (0.2860,)
FASHION_STD = (0.3530,)


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        c = len(mean)
        # Constants of the model, not checkpoint tensors: buffers (so that
        # .double() converts them) left out of the state dict.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1),
                             persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


class SeedCNN(nn.Module):
    def __init__(self, in_c, in_hw, mean, std, convs=((32, 5), (64, 5), (128, 3)),
                 fcs=(256, 128), classes=10):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.blocks = []
        c, hw = in_c, in_hw
        for i, (co, k) in enumerate(convs, 1):
            setattr(self, f"conv{i}", nn.Conv2d(c, co, k, stride=1, padding=k // 2, bias=True))
            setattr(self, f"bn{i}", nn.BatchNorm2d(co, eps=1e-5, momentum=0.1))
            self.blocks.append((f"conv{i}", f"bn{i}"))
            c, hw = co, hw // 2
        self.fcs = []
        features = c * hw * hw
        for i, out in enumerate(tuple(fcs) + (classes,), 1):
            setattr(self, f"fc{i}", nn.Linear(features, out))
            self.fcs.append(f"fc{i}")
            features = out
        self.pool = nn.AvgPool2d(2)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.normalize(x)
        for conv, bn in self.blocks:
            x = self.pool(self.relu(getattr(self, bn)(getattr(self, conv)(x))))
        x = torch.flatten(x, 1)
        for i, fc in enumerate(self.fcs):
            x = getattr(self, fc)(x)
            if i + 1 < len(self.fcs):
                x = self.relu(x)
        return x

    def cancelled_biases(self):
        """{bias name: weight name} of conv biases a training-mode BatchNorm
        cancels: their true gradient is zero."""
        return {f"{conv}.bias": f"{conv}.weight" for conv, _ in self.blocks}


def cifar_seed_cnn():
    return SeedCNN(3, 32, CIFAR10_MEAN, CIFAR10_STD)


def fashion_seed_cnn():
    return SeedCNN(1, 28, FASHION_MEAN, FASHION_STD)


# Model name (as in specs/*.net) -> constructor.  adv trains differently but
# has the seed CNN's shape.
MODELS = {
    "baseline": cifar_seed_cnn,
    "adv": cifar_seed_cnn,
    "fashion": fashion_seed_cnn,
}


def build(name):
    if name not in MODELS:
        raise KeyError(f"no PyTorch definition of model {name!r} in {__file__}")
    return MODELS[name]()


def checkpoint_names(model):
    """Names of every parameter and running statistic the C side stores."""
    return [n for n in model.state_dict() if not n.endswith("num_batches_tracked")]


def load_arrays(model, tensors):
    """Copy a dict name -> ndarray into the model's parameters and buffers.
    Names and shapes must match exactly, in both directions."""
    want = set(checkpoint_names(model))
    have = set(tensors)
    if want != have:
        raise ValueError(f"tensor names differ: missing {sorted(want - have)}, "
                         f"unexpected {sorted(have - want)}")
    state = dict(model.named_parameters())
    state.update(model.named_buffers())
    with torch.no_grad():
        for name in want:
            t = state[name]
            a = np.asarray(tensors[name], dtype=np.float32)
            if tuple(t.shape) != a.shape:
                raise ValueError(f"{name}: shape {list(a.shape)}, PyTorch wants {list(t.shape)}")
            t.copy_(torch.from_numpy(a))   # converts to the model's dtype
