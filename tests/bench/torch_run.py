"""torch_run.py - one PyTorch side of `make bench`: the twin advcc emits
(`advcc --torch`, generated/<model>.py) trained, evaluated or attacked on
CIFAR-10 the way the model binary does it, in a process of its own.

Usage: /usr/bin/python3 tests/bench/torch_run.py --twin generated/baseline.py
           --task train|eval|attack|adv --images N --json FILE
           [--threads T] [--batch B] [--checkpoint FILE] [--seed S]

  train   `<model> train --epochs 1 --limit N`: the first N training
          images shuffled, in batches of B: pixels / 255, forward with batch
          statistics, mean cross-entropy, backward, SGD with the spec's
          lr, momentum and weight decay
  adv     the same with every batch replaced by its PGD images (the spec's
          attack, batch statistics, running statistics frozen), as
          `<model> train` of a model with `train adversarial`
  eval    `<model> eval --limit N`: the first N test images, forward with
          running statistics, no gradients
  attack  `<model> attack --limit N`: per batch the spec's PGD (random
          start, steps of alpha * sign of the input gradient, projected
          into the eps box and [0, 1]; running statistics), then the
          predictions on the clean and on the attacked images

Only the loop is timed (time.perf_counter), as the binaries time theirs
(train.json train_s, eval/attack --json wall_s): importing torch, reading
CIFAR-10 from $CIFAR10_DIR and building the model are not.  The JSON
(written atomically) gives the seconds, images/s and accuracies, the FLOP
of one forward pass counted as direct convolution (2 x the multiply-adds
of every conv and linear layer), those of the first such layer (whose
input gradient training does not need) and the number of ensemble
passes.  Peak memory is for the parent to measure (wait4's ru_maxrss).
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

RECORD = 3073   # label byte + 3x32x32 pixels, CIFAR-10's binary version


def cifar10(split, n):
    """The first n images of a CIFAR-10 split as uint8 [n][3][32][32] and
    int64 labels, read from $CIFAR10_DIR (else data/cifar-10-batches-bin).
    The whole split is read and kept, as the binaries keep it, so that
    peak memory compares like with like."""
    d = os.environ.get("CIFAR10_DIR") or "data/cifar-10-batches-bin"
    files = ["test_batch.bin"] if split == "test" else [f"data_batch_{i}.bin" for i in range(1, 6)]
    parts = []
    for f in files:
        raw = np.fromfile(os.path.join(d, f), dtype=np.uint8)
        if raw.size % RECORD:
            sys.exit(f"torch_run: {f}: not whole CIFAR-10 records")
        parts.append(raw.reshape(-1, RECORD))
    recs = np.concatenate(parts)
    if len(recs) < n:
        sys.exit(f"torch_run: CIFAR-10 {split} has {len(recs)} images, fewer than {n}")
    pixels = recs[:, 1:].reshape(-1, 3, 32, 32)
    return pixels[:n], torch.from_numpy(recs[:n, 0].astype(np.int64))


def load_twin(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def recipe(twin):
    """lr, momentum, weight decay of the spec's `train sgd ...` line."""
    kv = dict(w.split("=", 1) for w in twin.DESCRIPTION["train"].split() if "=" in w)
    return float(kv["lr"]), float(kv.get("momentum", 0)), float(kv.get("weight_decay", 0))


def count_flops(net, shape):
    """(FLOP of one forward pass of one image, FLOP of its first conv or
    linear layer), as direct convolution; noise off, evaluation mode."""
    layers = []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            per = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        else:
            per = m.in_features
        layers.append(2 * out.numel() * per)

    hooks = [m.register_forward_hook(hook) for m in net.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = net.training
    net.eval().set_noise(False)
    with torch.no_grad():
        net.forward_pass(torch.zeros((1,) + tuple(shape)))
    net.set_noise(True)
    net.train(was)
    for h in hooks:
        h.remove()
    return sum(layers), layers[0] if layers else 0


def pgd(net, x, y, attack):
    """The spec's L-infinity PGD as runtime/pgd.c takes it (one attempt):
    only the input gradient is computed."""
    eps, alpha = attack["eps"], attack["alpha"]
    lo, hi = x - eps, x + eps

    def project(v):
        return torch.min(torch.max(v.clamp(0.0, 1.0), lo), hi)

    if attack["init"] == "gaussian":
        v = project(x + eps * torch.randn_like(x))
    elif attack["init"] == "uniform":
        v = project(x + eps * (2 * torch.rand_like(x) - 1))
    else:
        v = x.clone()
    for _ in range(attack["steps"]):
        v.requires_grad_(True)
        loss = F.cross_entropy(net(v), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, v)
        v = project(v.detach() + alpha * g.sign())
    return v.detach()


def bn_momentum(net, momentum):
    """Momentum 0 freezes the running statistics while BatchNorm still
    normalises by the batch's (the attack passes of adversarial training)."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def batches(n, b):
    return [(s, min(s + b, n)) for s in range(0, n, b)]


def train(net, twin, pixels, labels, args, adversarial):
    lr, momentum, wd = recipe(twin)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    order = np.random.default_rng(args.seed).permutation(len(labels))
    net.train()
    t0 = time.perf_counter()
    for s, e in batches(len(order), args.batch):
        idx = order[s:e]
        x = torch.from_numpy(pixels[idx]).float().div_(255)
        y = labels[idx]
        if adversarial:
            bn_momentum(net, 0.0)
            x = pgd(net, x, y, twin.ATTACK)
            bn_momentum(net, 0.1)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        if not math.isfinite(loss.item()):
            sys.exit("torch_run: the loss diverged")
    return time.perf_counter() - t0, {}


def evaluate(net, twin, pixels, labels, args, attacking):
    net.eval()
    clean = robust = 0
    t0 = time.perf_counter()
    for s, e in batches(len(labels), args.batch):
        x = torch.from_numpy(pixels[s:e]).float().div_(255)
        y = labels[s:e]
        xadv = pgd(net, x, y, twin.ATTACK) if attacking else None
        with torch.no_grad():
            ok = net(x).argmax(1) == y
            if attacking:
                ok_adv = net(xadv).argmax(1) == y
                robust += int((ok & ok_adv).sum())
        clean += int(ok.sum())
    seconds = time.perf_counter() - t0
    out = {"clean_acc": clean / len(labels)}
    if attacking:
        out["robust_acc"] = robust / len(labels)
    return seconds, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--twin", required=True, help="a module written by advcc --torch")
    ap.add_argument("--task", required=True, choices=["train", "adv", "eval", "attack"])
    ap.add_argument("--images", type=int, required=True, help="the first N images of the split")
    ap.add_argument("--json", required=True, help="where the result goes")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads [1]")
    ap.add_argument("--batch", type=int, default=100, help="images a step [100]")
    ap.add_argument("--checkpoint", help="parameters to start from (eval and attack need one)")
    ap.add_argument("--seed", type=int, default=0, help="shuffle, attack and init seed [0]")
    args = ap.parse_args()
    if args.images < 1 or args.batch < 1 or args.threads < 1:
        sys.exit("torch_run: --images, --batch and --threads must be >= 1")
    if args.task in ("eval", "attack") and not args.checkpoint:
        sys.exit(f"torch_run: --task {args.task} needs --checkpoint")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    twin = load_twin(args.twin)
    if tuple(twin.INPUT_SHAPE) != (3, 32, 32):
        sys.exit(f"torch_run: {twin.MODEL_NAME} takes {twin.INPUT_SHAPE}, not CIFAR-10 images")
    if args.task in ("attack", "adv") and twin.ATTACK["norm"] != "linf":
        sys.exit("torch_run: only the L-infinity attack has a PyTorch side here")
    net = twin.build()
    if args.checkpoint:
        net.load_checkpoint(args.checkpoint)
    flops, first = count_flops(net, twin.INPUT_SHAPE)
    split = "train" if args.task in ("train", "adv") else "test"
    pixels, labels = cifar10(split, args.images)
    if args.task in ("train", "adv"):
        seconds, extra = train(net, twin, pixels, labels, args, args.task == "adv")
    else:
        seconds, extra = evaluate(net, twin, pixels, labels, args, args.task == "attack")
    result = {"model": twin.MODEL_NAME, "task": args.task, "threads": args.threads,
              "batch": args.batch, "images": args.images, "seconds": seconds,
              "img_s": args.images / seconds, "flops_forward": flops, "flops_first": first,
              "passes": twin.Model.passes if net.noisy() else 1,
              "attack_steps": twin.ATTACK["steps"], "torch": torch.__version__, **extra}
    tmp = f"{args.json}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(result, f)
        f.write("\n")
    os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
