"""oracle.py - check a generated model against PyTorch, tensor by tensor.

Usage: /usr/bin/python3 tests/oracle/oracle.py [--tol 1e-4] DIR...

Each DIR is written by the model's dump_model binary (tests/oracle/dump_model.c):
the initial parameters, a batch, and what the C code computed from them.  This
script builds the same model in PyTorch (torch_models.py), loads the same
parameters, repeats every computation in float32 and compares:

  logits, loss         training-mode forward (batch statistics)
  grad <tensor>        every parameter gradient of the mean cross-entropy
  dx                   the input gradient
  stats <tensor>       running statistics after that forward (PyTorch's
                       momentum 0.1 and unbiased variance); the other tensors
                       must not have moved at all
  frozen ...           frozen-training forward: same logits, nothing moves
  eval ...             evaluation-mode logits, loss and input gradient
  sgd<k> <tensor>      parameters after k SGD steps from the same start
                       (torch.optim.SGD: buf = momentum*buf + grad + wd*p,
                       p -= lr*buf; weight decay on weights and biases only,
                       as runtime/model.h prescribes)

Error measure (printed per tensor): max |c - torch| / max |torch|, the
largest elementwise error relative to the tensor's largest magnitude.
Exceptions:
  - a conv bias followed by a training-mode BatchNorm has a true gradient of
    zero (the BatchNorm subtracts the batch mean); both sides hold rounding
    noise, so its error is max |c - torch| / max |grad of that conv's weight|.
  - parameters after SGD are compared through their update
    d = p_k - p_0: error = (max |c - torch| - 2 ulp) / max |d_torch|, where
    2 ulp is two float32 ulps of the tensor's largest parameter (storing p_k
    rounds it; the line shows how large that allowance is against the update,
    at most a few percent, so a wrong momentum rule still fails).  A
    conv bias before BatchNorm is judged against its conv weight's update.
  - scalars (the losses): |c - torch| / |torch|.
A tensor passes when its error is at most --tol.  The last line is
`N passed, N failed`; the exit status is 1 when anything failed.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402
from safetensors_np import read_safetensors  # noqa: E402


class Tally:
    def __init__(self, tol):
        self.tol = tol
        self.passed = 0
        self.failed = 0

    def record(self, label, err, note=""):
        ok = bool(np.isfinite(err)) and err <= self.tol
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'ok  ' if ok else 'FAIL'} {label:<34} max rel err {err:.3e}{note}")
        return ok

    def rel(self, label, c, ref, scale=None, note=""):
        c = np.asarray(c, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if c.shape != ref.shape:
            self.failed += 1
            print(f"  FAIL {label:<34} shape {list(c.shape)}, PyTorch {list(ref.shape)}")
            return False
        diff = float(np.max(np.abs(c - ref))) if c.size else 0.0
        if scale is None:
            scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        if scale == 0.0:
            return self.record(label, diff, " (absolute: reference is zero)")
        return self.record(label, diff / scale, note)

    def exact(self, label, c, ref):
        """Bitwise equality of float32 tensors that must not change."""
        c = np.asarray(c)
        ref = np.asarray(ref)
        same = c.shape == ref.shape and np.array_equal(c, ref)
        err = 0.0 if same else (float(np.max(np.abs(c.astype(np.float64) - ref)))
                                if c.shape == ref.shape else float("inf"))
        if same:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'ok  ' if same else 'FAIL'} {label:<34} max abs change {err:.3e}")
        return same


def np_of(t):
    return t.detach().cpu().numpy()


def train_forward_backward(model, x, y):
    """Forward in training mode, mean cross-entropy, backward; returns
    (logits, loss, dx)."""
    model.train()
    xt = torch.tensor(x, requires_grad=True)
    logits = model(xt)
    loss = F.cross_entropy(logits, y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return logits, loss, xt.grad


def check_dir(d, tally):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    name = meta["model"]
    kinds = {t["name"]: t["kind"] for t in meta["tensors"]}
    print(f"oracle: model {name}, seed {meta['seed']}, batch {meta['batch']} "
          f"({meta['data']} images), tolerance {tally.tol:g}")

    init, _ = read_safetensors(os.path.join(d, "init.safetensors"))
    if set(init) != set(kinds):
        raise ValueError(f"{d}: init.safetensors and meta.json list different tensors")
    x = np.load(os.path.join(d, "x.npy")).astype(np.float32)
    y = torch.tensor(np.load(os.path.join(d, "labels.npy")).astype(np.int64))
    trained = [n for n, k in kinds.items() if k != "state"]
    state = [n for n, k in kinds.items() if k == "state"]

    model = torch_models.build(name)
    torch_models.load_arrays(model, init)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    cancelled = model.cancelled_biases()

    # Training forward and backward.
    logits, loss, dx = train_forward_backward(model, x, y)
    tally.rel("logits", np.load(os.path.join(d, "logits.npy")), np_of(logits))
    tally.rel("loss", meta["loss"], loss.item())
    grads, _ = read_safetensors(os.path.join(d, "grads.safetensors"))
    for n in trained:
        ref = np_of(params[n].grad)
        if n in cancelled:
            scale = float(np.max(np.abs(np_of(params[cancelled[n]].grad))))
            tally.rel(f"grad {n}", grads[n], ref, scale=scale,
                      note=f" (true gradient 0: abs err / max|grad {cancelled[n]}|)")
        else:
            tally.rel(f"grad {n}", grads[n], ref)
    tally.rel("dx", np.load(os.path.join(d, "dx.npy")), np_of(dx))

    after, _ = read_safetensors(os.path.join(d, "after.safetensors"))
    for n in state:
        tally.rel(f"stats {n}", after[n], np_of(buffers[n]))
    moved = [n for n in trained if not np.array_equal(after[n], init[n])]
    tally.exact("trained tensors unchanged by forward",
                np.concatenate([after[n].ravel() for n in trained]),
                np.concatenate([init[n].ravel() for n in trained]))
    if moved:
        print(f"       moved: {', '.join(moved)}")

    # Frozen training mode: PyTorch's training-mode logits, nothing moves.
    tally.rel("frozen logits", np.load(os.path.join(d, "frozen_logits.npy")), np_of(logits))
    frozen, _ = read_safetensors(os.path.join(d, "frozen.safetensors"))
    tally.exact("frozen forward moves nothing",
                np.concatenate([frozen[n].ravel() for n in kinds]),
                np.concatenate([after[n].ravel() for n in kinds]))

    # Evaluation mode with the running statistics of one training forward.
    model.eval()
    xt = torch.tensor(x, requires_grad=True)
    elogits = model(xt)
    eloss = F.cross_entropy(elogits, y)
    eloss.backward()
    tally.rel("eval logits", np.load(os.path.join(d, "eval_logits.npy")), np_of(elogits))
    tally.rel("eval loss", meta["eval_loss"], eloss.item())
    tally.rel("eval dx", np.load(os.path.join(d, "eval_dx.npy")), np_of(xt.grad))

    # SGD with momentum, from init, two steps on the same batch.
    sgd = meta["sgd"]
    model = torch_models.build(name)
    torch_models.load_arrays(model, init)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    decayed = [params[n] for n in trained if kinds[n] in ("weight", "bias")]
    others = [params[n] for n in trained if kinds[n] not in ("weight", "bias")]
    opt = torch.optim.SGD([{"params": decayed, "weight_decay": sgd["weight_decay"]},
                           {"params": others, "weight_decay": 0.0}],
                          lr=sgd["lr"], momentum=sgd["momentum"])
    for step in (1, 2):
        _, sloss, _ = train_forward_backward(model, x, y)
        tally.rel(f"sgd{step} loss", sgd["losses"][step - 1], sloss.item())
        opt.step()
        got, _ = read_safetensors(os.path.join(d, f"sgd{step}.safetensors"))
        for n in trained:
            ref = np_of(params[n]).astype(np.float64)
            c = got[n].astype(np.float64)
            # A conv bias before BatchNorm barely moves: judge it on the
            # scale of its weight's update.
            base = cancelled.get(n, n)
            delta = float(np.max(np.abs(np_of(params[base]).astype(np.float64) - init[base])))
            slack = 2.0 * float(np.spacing(np.float32(np.max(np.abs(ref)))))
            err = float(np.max(np.abs(c - ref)))
            if delta == 0.0:
                tally.record(f"sgd{step} {n}", err, " (absolute: no update)")
            else:
                tally.record(f"sgd{step} {n}", max(0.0, err - slack) / delta,
                             f" (of the update; 2 ulp = {slack / delta:.1e} of it)")
        for n in state:
            tally.rel(f"sgd{step} stats {n}", got[n], np_of(buffers[n]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("dirs", nargs="+", help="directories written by dump_model")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    tally = Tally(args.tol)
    for d in args.dirs:
        try:
            check_dir(d, tally)
        except (OSError, ValueError, KeyError) as e:
            tally.failed += 1
            print(f"  FAIL {d}: {e}")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
