"""oracle.py - check a generated model against PyTorch, tensor by tensor.

Usage: /usr/bin/python3 tests/oracle/oracle.py [--tol 1e-4] DIR...

Each DIR is written by the model's dump_model binary (tests/oracle/dump_model.c):
the initial parameters, a batch, and what the C code computed from them.  This
script builds the same model in PyTorch (torch_models.py), loads the same
parameters, repeats every computation and compares:

  logits, loss         training-mode forward (batch statistics)
  grad <tensor>        every parameter gradient of the mean cross-entropy
  dx                   the input gradient
  stats <tensor>       running statistics after that forward (momentum 0.1,
                       unbiased variance); trained tensors must not move
  frozen ...           frozen-training forward: same logits, nothing moves
  eval ...             evaluation-mode logits, loss and input gradient
  sgd<k> <tensor>      parameters after k SGD steps from the same start
                       (torch.optim.SGD: buf = momentum*buf + grad + wd*p,
                       p -= lr*buf, on every trained tensor, as runtime/sgd.c)
  pgd loss, pgd dx     evaluation mode, running statistics moved by two
                       training forwards: the loss and the input gradient of
                       the summed cross-entropy at x (runtime/infer.c); an
                       image off by more than --tol is judged again with
                       the derivatives of ReLUs within rounding of their
                       kink flipped (pgd_check.py)
  pgd <eps> <k> steps  every step of the L-infinity PGD, pixel by pixel, from
                       the runtime's own iterates; pixels whose gradient sign
                       rounding leaves open are excused and counted, and must
                       stay below --pgd-share of all (pgd_check.py)
  pgd <eps> final      the attack's images against PyTorch's PGD from x, for
                       the images whose every step agreed

The reference is PyTorch in float64, from the same float32 parameters and
images: PyTorch's own float32 result is no oracle at this tolerance (on one
batch of 100 CIFAR-10 images, seed 5, its dx was off by 3e-2 and bn3.bias's
gradient by 6e-3 against float64, through BatchNorm's backward sums, while
the C code, which sums in double, stayed below 1e-6).  Each line also shows
PyTorch float32's error against the same reference, for scale.

Error measure (printed per tensor): max |c - ref| / max |ref|, the largest
elementwise error relative to the tensor's largest magnitude.  Exceptions:
  - a conv bias followed by a training-mode BatchNorm has a true gradient of
    zero (the BatchNorm subtracts the batch mean), so both sides hold
    rounding noise: its error is max |c - ref| / max |grad of that conv's
    weight|, an absolute tolerance on the scale of the layer's gradients.
  - parameters after SGD are compared through their update d = p_k - p_0:
    error = (max |c - ref| - k ulp) / max |d_ref|, where k ulp (k steps,
    float32 ulps of the tensor's largest parameter) allows for the rounding
    of storing p in float32; the line shows how large that allowance is
    against the update, so a wrong momentum rule (an error of tens of
    percent of the update) still fails.  A conv bias before BatchNorm is
    judged against its conv weight's update.
  - scalars (the losses): |c - ref| / |ref|.
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
import pgd_check  # noqa: E402
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
        print(f"  {'ok  ' if ok else 'FAIL'} {label:<30} max rel err {err:.2e}{note}")
        return ok

    def check(self, label, ok, text):
        """A verdict reached elsewhere, with its own line of numbers."""
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'ok  ' if ok else 'FAIL'} {label:<30} {text}")
        return ok

    def exact(self, label, c, ref):
        """Bitwise equality of float32 tensors that must not change."""
        same = c.shape == ref.shape and np.array_equal(c, ref)
        err = 0.0 if same else (float(np.max(np.abs(c.astype(np.float64) - ref)))
                                if c.shape == ref.shape else float("inf"))
        if same:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'ok  ' if same else 'FAIL'} {label:<30} max abs change {err:.2e}")
        return same


def np64(t):
    """A float64 copy (for a float64 tensor, .numpy() would share its memory,
    and later passes accumulate into .grad)."""
    return t.detach().cpu().double().numpy().copy()


def train_forward_backward(model, x, y):
    """Forward in training mode, mean cross-entropy, backward; returns
    (logits, loss, dx)."""
    model.train()
    xt = x.clone().requires_grad_(True)
    logits = model(xt)
    loss = F.cross_entropy(logits, y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return logits, loss, xt.grad


def reference(name, init, x, y, kinds, sgd, dtype):
    """Everything dump_model computed, computed by PyTorch in dtype: a dict
    label -> float64 array (labels as printed), and the conv biases whose
    true gradient is zero ({bias: its weight})."""
    trained = [n for n, k in kinds.items() if k != "state"]
    state = [n for n, k in kinds.items() if k == "state"]
    x = torch.tensor(x, dtype=dtype)
    out = {}

    model = torch_models.build(name).to(dtype)
    torch_models.load_arrays(model, init)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    logits, loss, dx = train_forward_backward(model, x, y)
    out["logits"], out["loss"], out["dx"] = np64(logits), loss.item(), np64(dx)
    for n in trained:
        out[f"grad {n}"] = np64(params[n].grad)
    for n in state:
        out[f"stats {n}"] = np64(buffers[n])

    # Evaluation mode with the running statistics of one training forward.
    model.eval()
    xt = x.clone().requires_grad_(True)
    elogits = model(xt)
    eloss = F.cross_entropy(elogits, y)
    eloss.backward()
    out["eval logits"], out["eval loss"], out["eval dx"] = np64(elogits), eloss.item(), np64(xt.grad)

    # SGD with momentum (torch.optim.SGD decays every trained tensor, as
    # runtime/sgd.c does), from init, two steps on the same batch.
    model = torch_models.build(name).to(dtype)
    torch_models.load_arrays(model, init)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    opt = torch.optim.SGD([params[n] for n in trained], lr=sgd["lr"],
                          momentum=sgd["momentum"], weight_decay=sgd["weight_decay"])
    for step in (1, 2):
        _, sloss, _ = train_forward_backward(model, x, y)
        out[f"sgd{step} loss"] = sloss.item()
        opt.step()
        for n in trained:
            out[f"sgd{step} {n}"] = np64(params[n])
        for n in state:
            out[f"sgd{step} stats {n}"] = np64(buffers[n])
    return out, model.cancelled_biases()


def max_abs(a):
    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def check_dir(d, tally, opts):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    name = meta["model"]
    kinds = {t["name"]: t["kind"] for t in meta["tensors"]}
    trained = [n for n, k in kinds.items() if k != "state"]
    state = [n for n, k in kinds.items() if k == "state"]
    print(f"oracle: model {name}, seed {meta['seed']}, batch {meta['batch']} "
          f"({meta['data']} images), tolerance {tally.tol:g} against PyTorch float64")

    def load(f):
        return read_safetensors(os.path.join(d, f))[0]

    def npy(f):
        return np.load(os.path.join(d, f)).astype(np.float64)

    init = load("init.safetensors")
    if set(init) != set(kinds):
        raise ValueError(f"{d}: init.safetensors and meta.json list different tensors")
    x = np.load(os.path.join(d, "x.npy")).astype(np.float32)
    y = torch.tensor(np.load(os.path.join(d, "labels.npy")).astype(np.int64))

    ref, cancelled = reference(name, init, x, y, kinds, meta["sgd"], torch.float64)
    r32, _ = reference(name, init, x, y, kinds, meta["sgd"], torch.float32)

    # What the C code wrote, under the same labels.
    got = {"logits": npy("logits.npy"), "loss": meta["loss"], "dx": npy("dx.npy"),
           "eval logits": npy("eval_logits.npy"), "eval loss": meta["eval_loss"],
           "eval dx": npy("eval_dx.npy")}
    grads, after = load("grads.safetensors"), load("after.safetensors")
    for n in trained:
        got[f"grad {n}"] = grads[n]
    for n in state:
        got[f"stats {n}"] = after[n]
    for step in (1, 2):
        p = load(f"sgd{step}.safetensors")
        got[f"sgd{step} loss"] = meta["sgd"]["losses"][step - 1]
        for n in kinds:
            got[f"sgd{step} {'stats ' if n in state else ''}{n}"] = p[n]

    def scale_of(label):
        """(scale, note) the error of label is divided by."""
        kind, _, n = label.partition(" ")
        if kind == "grad" and n in cancelled:
            return max_abs(ref[f"grad {cancelled[n]}"]), f" (true gradient 0: of max|grad {cancelled[n]}|)"
        if kind.startswith("sgd") and n in kinds and kinds[n] != "state":
            # Judged on the update; a conv bias before BatchNorm on its
            # weight's update.
            base = cancelled.get(n, n)
            return max_abs(ref[f"{kind} {base}"] - init[base]), " (of the update)"
        return max_abs(ref[label]), ""

    def compare(label):
        c = np.asarray(got[label], dtype=np.float64)
        r = np.asarray(ref[label], dtype=np.float64)
        if c.shape != r.shape:
            tally.failed += 1
            print(f"  FAIL {label:<30} shape {list(c.shape)}, PyTorch {list(r.shape)}")
            return
        scale, note = scale_of(label)
        slack = 0.0
        kind, _, n = label.partition(" ")
        if kind.startswith("sgd") and n in kinds and kinds[n] != "state":
            # Each step stores p in float32, rounding it by half an ulp.
            steps = int(kind[3:])
            slack = steps * float(np.spacing(np.float32(max_abs(r))))
            note += f" ({steps} ulp = {slack / scale:.0e} of it)" if scale else ""
        err = max(0.0, max_abs(c - r) - slack)
        err = err / scale if scale else err
        e32 = max_abs(np.asarray(r32[label], dtype=np.float64) - r) / scale if scale else 0.0
        tally.record(label, err, f"  torch32 {e32:.1e}{note}")

    for label in ["logits", "loss"] + [f"grad {n}" for n in trained] + ["dx"] + \
            [f"stats {n}" for n in state]:
        compare(label)
    tally.exact("forward moves no trained tensor",
                np.concatenate([after[n].ravel() for n in trained]),
                np.concatenate([init[n].ravel() for n in trained]))

    # Frozen training mode: the training-mode logits, nothing moves.
    got["frozen logits"], ref["frozen logits"], r32["frozen logits"] = \
        npy("frozen_logits.npy"), ref["logits"], r32["logits"]
    compare("frozen logits")
    frozen = load("frozen.safetensors")
    tally.exact("frozen forward moves nothing",
                np.concatenate([frozen[n].ravel() for n in kinds]),
                np.concatenate([after[n].ravel() for n in kinds]))

    for label in ("eval logits", "eval loss", "eval dx"):
        compare(label)
    for step in (1, 2):
        compare(f"sgd{step} loss")
        for n in trained:
            compare(f"sgd{step} {n}")
        for n in state:
            compare(f"sgd{step} stats {n}")
    check_pgd(d, meta, x, y, tally, opts)


def check_pgd(d, meta, x, y, tally, opts):
    """The PGD dumps of d: the gradient at x, then each attack."""
    name, pgd = meta["model"], meta["pgd"]
    params = read_safetensors(os.path.join(d, "pgd.safetensors"))[0]
    model = pgd_check.EvalModel(name, params)
    c = np.load(os.path.join(d, "pgd_dx.npy")).astype(np.float64)
    if c.shape != x.shape:
        tally.check("pgd dx", False, f"shape {list(c.shape)}, batch {list(x.shape)}")
        return
    raw, err, units, images, g, loss = pgd_check.check_gradient(model, x, y, c, tally.tol, opts)
    g32, loss32, _ = pgd_check.EvalModel(name, params, torch.float32, probe=False).grad(
        torch.from_numpy(x), y)
    n = len(x)
    # infer_loss_grad returns the mean loss and the gradient of the sum.
    ref_loss = loss / n
    tally.record("pgd loss", abs(pgd["loss"] - ref_loss) / abs(ref_loss),
                 f"  torch32 {abs(loss32 / n - ref_loss) / abs(ref_loss):.1e}")
    r = np64(g)
    note = f"  torch32 {max_abs(np64(g32) - r) / max_abs(r):.1e}"
    if units:
        note += f" (raw {raw:.1e}: {units} ReLU kink units flipped in {images} images)"
    tally.record("pgd dx", err, note)

    for run in pgd["runs"]:
        label = f"pgd {run['eps'] * 255:g}/255 {run['steps']} steps"
        path = np.load(os.path.join(d, f"pgd_{run['name']}_path.npy"))
        final = np.load(os.path.join(d, f"pgd_{run['name']}.npy"))
        if path.shape != (run["steps"],) + x.shape or final.shape != x.shape:
            tally.check(label, False, f"path shape {list(path.shape)}, images {list(final.shape)}, "
                        f"batch {list(x.shape)}")
            continue
        res = pgd_check.check_attack(model, x, y, path, run["eps"], pgd["alpha"], opts)
        total = res["steps"] * res["images"] * res["pixels"]
        excused = res["near"] + res["kink"]
        share = excused / total
        text = (f"{total} pixel steps, max diff "
                f"{res['max_diff']:.1e}; excused {excused} ({share:.1e}): {res['near']} "
                f"near-zero gradient ({res['near_differ']} differ), {res['kink']} at ReLU "
                f"kinks ({res['kink_units']} units)")
        if res["unexplained"]:
            text += f"; {res['unexplained']} DIFFER by up to {res['unexplained_max']:.1e}"
            if res["unsearched"]:
                text += f" ({res['unsearched']} images past the kink search budget)"
        if share > opts["share"]:
            text += f"; share above {opts['share']:g}"
        tally.check(label, res["unexplained"] == 0 and share <= opts["share"], text)

        # The attack's own output against PyTorch's path from x.
        kept = [b for b in range(n) if b not in res["parted"]]
        diff = np.abs(final[kept].astype(np.float64) - res["final"][kept]) if kept else np.zeros(1)
        parted = [f"#{b} at step {s}" for b, s in sorted(res["parted"].items())]
        parted = ", ".join(parted[:6] + (["..."] if len(parted) > 6 else []))
        text = (f"{len(kept)} of {n} images as PyTorch's from x ({diff.size if kept else 0} pixels, "
                f"max diff {float(diff.max()):.1e})" + (f"; parted: {parted}" if parted else "") +
                f"; loss {res['loss'][0] / n:.4f} -> {res['loss'][-1] / n:.4f}")
        tally.check(f"pgd {run['eps'] * 255:g}/255 final", bool(np.all(diff < pgd_check.SAME)), text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--pgd-near", type=float, default=1e-6,
                    help="PGD: a gradient entry below this times its image's largest is near zero")
    ap.add_argument("--pgd-kink", type=float, default=1e-5,
                    help="PGD: a ReLU input below this times its layer's largest is at a kink")
    ap.add_argument("--pgd-share", type=float, default=0.01,
                    help="PGD: largest share of pixel steps that may be excused")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch's threads")
    ap.add_argument("dirs", nargs="+", help="directories written by dump_model")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    tally = Tally(args.tol)
    opts = {"near_rel": args.pgd_near, "kink_rel": args.pgd_kink, "share": args.pgd_share,
            "max_flips": 3, "max_units": 8}
    for d in args.dirs:
        try:
            check_dir(d, tally, opts)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            tally.failed += 1
            print(f"  FAIL {d}: {e}")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
