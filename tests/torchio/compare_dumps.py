"""compare_dumps.py - the PyTorch modules of small models against their C,
through the oracle's dumper (tests/oracle/dump_model.c).

    compare_dumps.py MODULE_DIR DUMP_DIR...

For each DUMP_DIR (named after its model; MODULE_DIR/<model>.py the module
advcc --torch wrote): from init.safetensors, in training mode on x.npy, the
module's logits against logits.npy, and the gradients of the mean
cross-entropy against labels.npy - the input's against dx.npy, every
parameter's against grads.safetensors (so the straight-through estimators
of the quantised weights and of DTReLU, and the thresholds' gradients, are
checked); from frozen.safetensors, in evaluation mode, the logits against
eval_logits.npy (one pass).  Each within 1e-4 of the array's largest
magnitude (a parameter's gradient: of its layer's largest gradient).
The module's training recipe (TRAIN, make_optimizer, make_scheduler):
its scheduler's rate of every dumped optimiser step against the C's
(meta.json), and its optimiser's first step from init with the C's
gradient (sgd1_grads.safetensors) against sgd1.safetensors, within 1e-4
of the update.
Noise layers replay the C runtime's draws (noise_train.npy, noise_eval.npy),
which it drew over images in its channel-major layout (CNHW) except at the
model's input, and over flat rows as they are; so do dropout layers, whose
masks the runtime draws as normals in the same stream (runtime/dropout.h)."""
import importlib.util
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOL = 1e-4


def rel(a, b, scale=None):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max() if scale is None else scale
    return float(np.abs(a - b).max() / max(scale, 1e-12)) if b.size else 0.0


class NoiseFeed:
    """The runtime's standard normal draws of one pass, in the order the
    noise layers drew them."""

    def __init__(self, path, first):
        self.draws = torch.from_numpy(np.load(path).astype(np.float64).reshape(-1))
        self.used = 0
        self.first = first          # the Noise module that is the model's first layer

    def source(self, layer):
        def give(shape):
            n = int(np.prod(shape))
            xi = self.draws[self.used:self.used + n]
            self.used += n
            if len(shape) == 4 and layer is not self.first:
                return xi.view(shape[1], shape[0], *shape[2:]).transpose(0, 1)
            return xi.view(shape)
        return give


def feed(mod, net, dump, tag):
    path = os.path.join(dump, f"noise_{tag}.npy")
    if not os.path.exists(path):
        return
    first = next(net.children())
    f = NoiseFeed(path, first)
    for m in net.modules():
        if isinstance(m, (mod.Noise, mod.Dropout)):
            m.source = f.source(m)


def check_recipe(mod, net, dump):
    """The module's optimiser and schedule against the C's steps."""
    with open(os.path.join(dump, "meta.json")) as f:
        sgd = json.load(f)["sgd"]
    if "lrs" not in sgd:
        return {}
    net.load_checkpoint(os.path.join(dump, "init.safetensors"))
    init = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt = mod.make_optimizer(net.parameters(), mod.TRAIN)
    sched = mod.make_scheduler(opt, mod.TRAIN, sgd["schedule"]["steps_per_epoch"])
    out = {}
    grads, _ = mod.read_safetensors(os.path.join(dump, "sgd1_grads.safetensors"))
    after, _ = mod.read_safetensors(os.path.join(dump, "sgd1.safetensors"))
    for n, p in net.named_parameters():
        p.grad = torch.from_numpy(grads[n]).to(p.dtype)
    lrs = []
    for k in range(sgd["steps"]):
        lrs.append(opt.param_groups[0]["lr"])
        if k == 0:
            opt.step()
        sched.step()
    out["schedule"] = max(abs(a - b) / abs(b) for a, b in zip(lrs, sgd["lrs"]))
    step = max(np.abs(after[n] - init[n].numpy()).max() for n in init)
    out["first step"] = max(np.abs(p.detach().numpy() - after[n]).max() for n, p in
                            net.named_parameters()) / step
    return out


def check(module_dir, dump):
    name = os.path.basename(dump.rstrip("/"))
    spec = importlib.util.spec_from_file_location(name, os.path.join(module_dir, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.build()
    x = np.load(os.path.join(dump, "x.npy"))
    if x.dtype == np.float64:       # a dump of the double build: the module in float64
        net.double()
    x = torch.from_numpy(x).requires_grad_(True)
    y = torch.from_numpy(np.load(os.path.join(dump, "labels.npy")).astype(np.int64))
    net.load_checkpoint(os.path.join(dump, "init.safetensors"))
    net.train()
    feed(mod, net, dump, "train")
    out = net.forward_pass(x)
    F.cross_entropy(out, y).backward()
    worst = {"logits": rel(out.detach(), np.load(os.path.join(dump, "logits.npy"))),
             "dx": rel(x.grad, np.load(os.path.join(dump, "dx.npy")))}
    grads, _ = mod.read_safetensors(os.path.join(dump, "grads.safetensors"))
    for n, p in net.named_parameters():
        # Against the largest gradient of the layer: a conv's bias before a
        # training-mode BatchNorm has a true gradient of zero, and both sides
        # only round it.
        layer = n.rsplit(".", 1)[0]
        scale = max(np.abs(v).max() for k, v in grads.items() if k.rsplit(".", 1)[0] == layer)
        worst[f"grad {n}"] = rel(p.grad if p.grad is not None else torch.zeros_like(p), grads[n], scale)
    net.load_checkpoint(os.path.join(dump, "frozen.safetensors"))
    net.eval()
    feed(mod, net, dump, "eval")
    with torch.no_grad():
        worst["eval logits"] = rel(net.forward_pass(x), np.load(os.path.join(dump, "eval_logits.npy")))
    worst.update(check_recipe(mod, net, dump))
    key = max(worst, key=worst.get)
    ok = worst[key] <= TOL
    n_grads = sum(k.startswith("grad ") for k in worst)
    recipe = ", the recipe's rates and first step" if "schedule" in worst else ""
    print(f"{name}{' (float64)' if x.dtype == torch.float64 else ''}: training-mode logits, input and {n_grads} parameter gradients, "
          f"evaluation-mode logits{recipe}: largest relative difference {worst[key]:.2e} ({key})"
          + ("" if ok else " FAILED"))
    return ok


def main(argv):
    torch.set_num_threads(1)
    passed = failed = 0
    for dump in argv[1:]:
        try:
            r = check(argv[0], dump)
        except Exception as e:
            print(f"{dump}: FAILED: {type(e).__name__}: {e}")
            r = False
        if r is not None:
            passed += r
            failed += not r
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
