"""train_twin.py - train a model's PyTorch twin (`advcc --torch`) with its
spec's recipe, for a comparison with the advcc binary on the same machine:
the same optimiser, schedule (step by step), augmentation (crop and flip,
from torch's generator), batch size and epochs, every batch in each epoch
once (the last one partial), the test accuracy at the end in evaluation
mode.  A spec that trains adversarially (`train adversarial`) has every
batch replaced by its PGD images as advcc does (docs/METHODS.md 3): the
spec's training attack, BatchNorm on batch statistics with its running
statistics untouched, the augmented images attacked.  Prints a line per
epoch as `MODEL train` does and writes a JSON summary; --checkpoint saves
the weights where advcc's binaries read them (`MODEL attack --checkpoint`).

    python3 train_twin.py generated/resnet20.py --threads 2 --out twin.json

CIFAR-10 is read from $CIFAR10_DIR (the binary batches).  PyTorch is all
it needs besides the module.
"""
import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_cifar(directory, names):
    """Images [n][3][32][32] in [0, 1] (float32) and labels of the batches."""
    xs, ys = [], []
    for name in names:
        path = os.path.join(directory, name)
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 3073:
            sys.exit(f"train_twin: {path}: {raw.size} bytes, not records of 3073")
        raw = raw.reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return (torch.from_numpy(np.concatenate(xs)).float() / 255,
            torch.from_numpy(np.concatenate(ys)))


def accuracy(net, x, y, batch=500):
    net.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            right += (net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return 100.0 * right / len(x)


def train_attack(twin):
    """eps, alpha, steps and start of the spec's training attack, which must
    be an L-inf PGD on pixels with one restart (what this file replays)."""
    words = twin.DESCRIPTION["train_attack"].split()
    kv = dict(w.split("=", 1) for w in words if "=" in w)
    if words[:2] != ["pgd", "linf"] or kv.get("clip") != "pixel" or kv.get("restarts") != "1" \
            or kv.get("eot") != "1" or kv.get("init") not in ("gaussian", "uniform", "none"):
        sys.exit(f"train_twin: the training attack '{twin.DESCRIPTION['train_attack']}' is not "
                 "an L-inf PGD on pixels with one restart and one draw")
    return float(kv["eps"]), float(kv["alpha"]), int(kv["steps"]), kv["init"]


def pgd(net, x, y, attack, gen):
    """PGD images of x (runtime/pgd.h): the start eps N(0, 1) (or U(-eps,
    eps)) projected into the ball and [0, 1], then steps of alpha times the
    sign of the summed cross-entropy's gradient, each projected again.  The
    network stays in training mode (batch statistics); momentum 0 leaves
    the running statistics exactly as they were."""
    eps, alpha, steps, init = attack

    def project(xa):
        return torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1)

    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    kept = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    if init == "gaussian":
        xa = x + eps * torch.randn(x.shape, generator=gen)
    elif init == "uniform":
        xa = x + eps * (2 * torch.rand(x.shape, generator=gen) - 1)
    else:
        xa = x.clone()
    xa = project(xa)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(net(xa), y, reduction="sum")
        g, = torch.autograd.grad(loss, xa)
        xa = project(xa.detach() + alpha * g.sign())
    for m, k in zip(bns, kept):
        m.momentum = k
    return xa.detach()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("module", help="the twin, generated/<model>.py")
    ap.add_argument("--epochs", type=int, help="epochs [the spec's]")
    ap.add_argument("--limit", type=int, help="train on the first N images [all]")
    ap.add_argument("--test-limit", type=int, help="evaluate on the first N [all]")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads [all]")
    ap.add_argument("--seed", type=int, default=0, help="torch's seed [0]")
    ap.add_argument("--out", help="write the summary here (JSON)")
    ap.add_argument("--checkpoint", help="write the trained weights here (safetensors)")
    a = ap.parse_args()
    data = os.environ.get("CIFAR10_DIR")
    if not data:
        sys.exit("train_twin: set CIFAR10_DIR to the directory of CIFAR-10's binary batches")
    spec = importlib.util.spec_from_file_location("twin", a.module)
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)

    x, y = read_cifar(data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    tx, ty = read_cifar(data, ["test_batch.bin"])
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    if a.test_limit:
        tx, ty = tx[:a.test_limit], ty[:a.test_limit]
    train = dict(twin.TRAIN)
    if a.epochs:
        train["epochs"] = a.epochs
    batch, epochs = train["batch"], train["epochs"]
    per_epoch = (len(x) + batch - 1) // batch
    attack = train_attack(twin) if train.get("adversarial") else None
    net = twin.build()
    opt = twin.make_optimizer(net.parameters(), train)
    sched = twin.make_scheduler(opt, train, per_epoch)
    print(f"{twin.MODEL_NAME} (PyTorch {torch.__version__}): training on {len(x)} images, "
          f"{epochs} epochs, batch {batch}, lr {train['lr']}, seed {a.seed}, "
          f"{a.threads} threads{', adversarial' if attack else ''}", file=sys.stderr)
    start, epochs_out = time.time(), []
    for e in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            xb = twin.augment(x[idx], train, gen)
            if attack:
                xb = pgd(net, xb, y[idx], attack, gen)
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            lr = opt.param_groups[0]["lr"]     # this step's, before the schedule moves on
            sched.step()
            total += loss.item()
        took = time.time() - start
        epochs_out.append({"epoch": e + 1, "loss": total / per_epoch, "seconds": took})
        print(f"epoch {e + 1}/{epochs}  loss {total / per_epoch:.4f}  "
              f"lr {lr:.4g}  {took:.1f} s", file=sys.stderr, flush=True)
    train_seconds = time.time() - start
    acc = accuracy(net, tx, ty)
    print(f"{twin.MODEL_NAME} (PyTorch): test accuracy {acc:.2f}% ({len(tx)} images), "
          f"{epochs * per_epoch} steps in {train_seconds:.1f} s", file=sys.stderr)
    if a.checkpoint:
        net.save_checkpoint(a.checkpoint)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"model": twin.MODEL_NAME, "torch": torch.__version__,
                       "threads": a.threads, "seed": a.seed, "images": len(x),
                       "adversarial": bool(attack),
                       "epochs": epochs_out, "train_seconds": train_seconds,
                       "test_images": len(tx), "test_accuracy": acc}, f, indent=1)
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
