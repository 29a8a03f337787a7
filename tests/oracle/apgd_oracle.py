#!/usr/bin/python3
"""apgd_oracle.py MODEL CHECKPOINT N JSON [--seed S]

An independent PyTorch implementation of APGD-CE and APGD-T (L-infinity),
written from Croce & Hein 2020 (Algorithm 1, section 3 and the targeted DLR
loss of section 4), run on the first N CIFAR-10 test images ($CIFAR10_DIR)
with the model of tests/oracle/torch_models.py and the weights of
CHECKPOINT, and compared with the runtime's result JSON (`MODEL attack
--attack apgd-ce|apgd-t --limit N --json JSON`; the attack, eps, iterations
and number of targets are read from it): clean accuracy within 0.5 points,
robust accuracy within 1.
The two draw different random starts, so only the rates can agree.
Prints both and exits 1 when they disagree.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402
from safetensors_np import read_safetensors  # noqa: E402


def cifar_test(n):
    path = os.path.join(os.environ["CIFAR10_DIR"], "test_batch.bin")
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)[:n]
    y = torch.from_numpy(raw[:, 0].astype(np.int64))
    x = torch.from_numpy(raw[:, 1:].astype(np.float32) / 255).view(-1, 3, 32, 32)
    return x, y


def checkpoints(n_iter):
    """w_j = ceil(p_j n_iter), p_0 = 0, p_1 = 0.22, p_{j+1} = p_j +
    max(p_j - p_{j-1} - 0.03, 0.06), in exact fractions of 100."""
    ws, prev, p = [], 0, 22
    while p <= 100:
        w = -(-p * n_iter // 100)
        if w > (ws[-1] if ws else 0):
            ws.append(w)
        prev, p = p, p + max(p - prev - 3, 6)
    return ws


def project(v, x, eps):
    return torch.min(torch.max(v, x - eps), x + eps).clamp(0, 1)


def ce_loss(logits, y):
    return F.cross_entropy(logits, y, reduction="none")


def dlr_targeted_loss(t):
    """-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2), z_pi the logits in
    decreasing order: the attack raises the target's logit over the label's,
    scaled so that the logits' scale does not matter."""
    def loss(logits, y):
        zs = logits.sort(dim=1, descending=True).values
        rows = torch.arange(logits.shape[0])
        scale = zs[:, 0] - 0.5 * (zs[:, 2] + zs[:, 3]) + 1e-12
        return -(logits[rows, y] - logits[rows, t]) / scale
    return loss


def loss_grad(model, v, y, loss_fn):
    v = v.clone().requires_grad_(True)
    logits = model(v)
    loss = loss_fn(logits, y)
    (g,) = torch.autograd.grad(loss.sum(), v)
    return loss.detach(), g, logits.detach()


def apgd(model, x, y, eps, n_iter, gen, loss_fn, rho=0.75, alpha=0.75):
    """Maximises loss_fn from a random start; returns a bool tensor:
    misclassified at some iterate."""
    n = x.shape[0]
    view = (n, 1, 1, 1)
    x0 = project(x + eps * (2 * torch.rand(x.shape, generator=gen) - 1), x, eps)
    f, g, logits = loss_grad(model, x0, y, loss_fn)
    fooled = logits.argmax(1) != y
    xk, xprev = x0, x0
    xbest, gbest, fbest = x0.clone(), g.clone(), f.clone()
    eta = torch.full(view, 2 * eps)
    fprev = f.clone()
    succ = torch.zeros(n)
    reduced_last = torch.ones(n, dtype=torch.bool)
    fbest_last = fbest.clone()
    ws, j, last = checkpoints(n_iter), 0, 0
    for k in range(n_iter):
        a = 1.0 if k == 0 else alpha
        z = project(xk + eta * g.sign(), x, eps)
        xnew = project(xk + a * (z - xk) + (1 - a) * (xk - xprev), x, eps)
        xprev, xk = xk, xnew
        f, g, logits = loss_grad(model, xk, y, loss_fn)
        fooled |= logits.argmax(1) != y
        succ += (f > fprev).float()
        fprev = f.clone()
        better = f > fbest
        xbest[better], gbest[better], fbest[better] = xk[better], g[better], f[better]
        if j < len(ws) and k + 1 == ws[j]:
            cond1 = succ < rho * (ws[j] - last)
            cond2 = ~reduced_last & ~(fbest > fbest_last)
            halve = cond1 | cond2
            reduced_last, fbest_last = halve, fbest.clone()
            succ.zero_()
            eta[halve] /= 2
            xk, xprev, g = xk.clone(), xprev.clone(), g.clone()
            xk[halve], xprev[halve], g[halve] = xbest[halve], xbest[halve], gbest[halve]
            fprev[halve] = fbest[halve]
            last, j = ws[j], j + 1
    return fooled


def apgd_t(model, x, y, eps, n_iter, gen, n_targets):
    """One APGD run with the targeted DLR loss per target, the targets being
    the classes of the highest clean logits other than the label, each run
    on the images that the earlier targets left standing."""
    with torch.no_grad():
        logits = model(x)
    masked = logits.clone()
    masked[torch.arange(x.shape[0]), y] = -math.inf
    order = masked.sort(dim=1, descending=True).indices
    fooled = torch.zeros(x.shape[0], dtype=torch.bool)
    for i in range(min(n_targets, logits.shape[1] - 1)):
        idx = (~fooled).nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        t = order[idx, i]
        fooled[idx] = apgd(model, x[idx], y[idx], eps, n_iter, gen,
                           dlr_targeted_loss(t))
    return fooled


def main(argv):
    if len(argv) < 5:
        sys.exit(__doc__)
    name, ckpt, n, jpath = argv[1], argv[2], int(argv[3]), argv[4]
    seed = int(argv[6]) if len(argv) > 6 and argv[5] == "--seed" else 0
    with open(jpath) as fp:
        res = json.load(fp)
    eps, iters, attack = res["eps"], res["iters"], res["attack"]
    if attack not in ("apgd-ce", "apgd-t"):
        sys.exit(f"apgd_oracle: {jpath}: attack '{attack}' (apgd-ce or apgd-t expected)")
    model = torch_models.build(name)
    tensors, _ = read_safetensors(ckpt)
    torch_models.load_arrays(model, tensors)
    model.eval()
    torch.set_num_threads(1)
    x, y = cifar_test(n)
    gen = torch.Generator().manual_seed(seed)
    clean_ok = torch.zeros(n, dtype=torch.bool)
    robust = torch.zeros(n, dtype=torch.bool)
    for s in range(0, n, 100):
        xb, yb = x[s:s + 100], y[s:s + 100]
        with torch.no_grad():
            ok = model(xb).argmax(1) == yb
        clean_ok[s:s + 100] = ok
        if ok.any():
            idx = ok.nonzero().squeeze(1)
            if attack == "apgd-ce":
                fooled = apgd(model, xb[idx], yb[idx], eps, iters, gen, ce_loss)
            else:
                fooled = apgd_t(model, xb[idx], yb[idx], eps, iters, gen,
                                res["targets"])
            r = torch.zeros_like(ok)
            r[idx] = ~fooled
            robust[s:s + 100] = r
    clean, rob = clean_ok.float().mean().item(), robust.float().mean().item()
    print(f"apgd_oracle: {name} {attack} {n} images eps {eps * 255:.3g}/255 {iters} iterations")
    print(f"apgd_oracle: clean   C {100 * res['clean_acc']:.2f}%  PyTorch {100 * clean:.2f}%")
    print(f"apgd_oracle: robust  C {100 * res['robust_acc']:.2f}%  PyTorch {100 * rob:.2f}%")
    good = abs(clean - res["clean_acc"]) <= 0.005 + 1e-9 and \
        abs(rob - res["robust_acc"]) <= 0.01 + 1e-9
    print("apgd_oracle: " + ("1 passed, 0 failed" if good else "0 passed, 1 failed"))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
