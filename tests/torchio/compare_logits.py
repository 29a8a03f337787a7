"""compare_logits.py - the PyTorch module `advcc --torch` wrote for a model,
on an advcc checkpoint, against the binary's own outputs.

    compare_logits.py MODULE_DIR N MODEL CHECKPOINT LOGITS.npy FLAG [MODEL ...]

For each MODEL, CHECKPOINT, LOGITS.npy, FLAG (noise-off or -): reads the
first N test images (CIFAR-10 binary from $CIFAR10_DIR, or
Fashion-MNIST from $FASHION_MNIST_DIR or Debian's copy, as the binary
does), runs MODULE_DIR/MODEL.py in evaluation mode in float32 and compares
its logits with LOGITS.npy (`MODEL eval --save-logits`): every logit within
1e-4 relative (of the row's largest magnitude).  noise-off turns the
module's noise layers off (the noise-free part of a randomised model; the
binary side is then a model of the same layers without noise).  Prints one
line per model and exits 1 on a mismatch.

Activations rounded onto a grid (DTReLU) are discontinuous: an input within
a rounding error of a tie between two grid points may round up in one
implementation and down in the other (their convolutions sum in different
orders), and the whole row moves by a grid step.  A row that differs is
settled by a bounded search: the module's inputs nearest a tie (within TIE
grid steps, at most CANDIDATES of them) are rounded the other way, one at a
time, and up to MAX_FLIPS such flips, each the one that brings the row
closest, must reproduce the binary's row within 1e-4.  A row no flip
explains fails the check."""
import gzip
import importlib.util
import os
import sys

import numpy as np
import torch

TOL = 1e-4
TIE = 1e-3
CANDIDATES = 64
MAX_FLIPS = 3


class TieWatch:
    """Forward hooks on every DTReLU: they record each input's distance to
    a rounding tie (in grid steps) and apply the flips asked for."""

    def __init__(self, mod, net):
        self.layers = [m for m in net.modules() if isinstance(m, mod.DTReLU)]
        self.dist = {}
        self.flips = []         # (layer index, flat index within the image, +1 or -1)
        for k, m in enumerate(self.layers):
            m.register_forward_hook(self.hook(k))

    def hook(self, k):
        def run(layer, args, out):
            x = args[0].detach()
            lo, hi = layer.lo.detach(), layer.hi.detach()
            if not bool(hi > lo):
                return None
            top = float(2 ** layer.bits - 1)
            s = (hi - lo) / top
            v = torch.clamp((x - lo) / s, 0.0, top)
            frac = v - torch.floor(v)
            inside = (v > 0) & (v < top)
            d = torch.where(inside, (frac - 0.5).abs(), torch.ones_like(v))
            self.dist[k] = (d.reshape(d.shape[0], -1), (frac >= 0.5).reshape(d.shape[0], -1))
            mine = [(i, sign) for (kk, i, sign) in self.flips if kk == k]
            if not mine:
                return None
            out = out.clone()
            flat = out.view(out.shape[0], -1)
            for i, sign in mine:
                flat[:, i] += sign * s.reshape(())
            return out
        return run

    def candidates(self, row):
        """(distance, layer, index, direction) of the inputs of image `row`
        nearest a tie, nearest first."""
        c = []
        for k, (d, up) in self.dist.items():
            r = d[row]
            idx = torch.nonzero(r < TIE).flatten().tolist()
            c += [(float(r[i]), k, i, -1 if bool(up[row, i]) else 1) for i in idx]
        return sorted(c)[:CANDIDATES]


def load_module(directory, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(directory, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_images(shape, n):
    """The first n test images as float32 [n][c][h][w] in [0, 1], divided
    as the runtime divides (byte / 255 in float32)."""
    c, h, w = shape
    if c == 3:
        path = os.path.join(os.environ.get("CIFAR10_DIR", "data/cifar-10-batches-bin"), "test_batch.bin")
        raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 1 + 3 * 32 * 32)[:n, 1:]
    else:
        d = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
        with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")) as f:
            raw = np.frombuffer(f.read(), dtype=np.uint8)[16:].reshape(-1, 28 * 28)[:n]
    scale = np.arange(256, dtype=np.float32) / np.float32(255)
    return torch.from_numpy(scale[raw].reshape(n, c, h, w))


def settle(net, watch, x1, want):
    """Flips of tie inputs of one image x1 [1][c][h][w] that make the
    module's row `want`; (flips, relative difference) of the best found."""
    scale = max(np.abs(want).max(), 1e-30)

    def diff():
        with torch.no_grad():
            got = net(x1).numpy()[0].astype(np.float64)
        return np.abs(got - want).max() / scale

    watch.flips = []
    best = diff()
    cands = watch.candidates(0)
    for _ in range(MAX_FLIPS):
        if best <= TOL:
            break
        trial = None
        for _, k, i, sign in cands:
            if (k, i, sign) in watch.flips:
                continue
            watch.flips.append((k, i, sign))
            r = diff()
            watch.flips.pop()
            if trial is None or r < trial[0]:
                trial = (r, (k, i, sign))
        if trial is None or trial[0] >= best:
            break
        best = trial[0]
        watch.flips.append(trial[1])
    flips = list(watch.flips)
    watch.flips = []
    return flips, best


def main(argv):
    directory, n, rest = argv[0], int(argv[1]), argv[2:]
    torch.set_num_threads(1)
    failed = 0
    for i in range(0, len(rest) - 3, 4):
        name, ckpt, logits_path, flag = rest[i:i + 4]
        try:
            failed += compare(directory, name, ckpt, logits_path, n, flag == "noise-off")
        except Exception as e:      # a module that does not load is a failure, not a crash
            print(f"{name}: {type(e).__name__}: {e}")
            failed += 1
    print(f"{len(rest) // 4 - failed} passed, {failed} failed")
    return 1 if failed else 0


def compare(directory, name, ckpt, logits_path, n, noise_off):
    mod = load_module(directory, name)
    net = mod.Model()
    meta = net.load_checkpoint(ckpt)
    net.eval()
    if noise_off:
        net.set_noise(False)
    x = test_images(mod.INPUT_SHAPE, n)
    watch = TieWatch(mod, net)
    with torch.no_grad():
        ours = net(x).numpy().astype(np.float64)
    theirs = np.load(logits_path).astype(np.float64)
    if ours.shape != theirs.shape:
        print(f"{name}: shapes differ: module {ours.shape}, binary {theirs.shape}")
        return 1
    scale = np.maximum(np.abs(theirs).max(axis=1, keepdims=True), 1e-30)
    rel = np.abs(ours - theirs) / scale
    over = np.nonzero(rel.max(axis=1) > TOL)[0]
    settled, unsettled, flips = [], [], 0
    for r in over:
        if not watch.layers:
            unsettled.append(r)
            continue
        f, d = settle(net, watch, x[r:r + 1], theirs[r])
        (settled if d <= TOL else unsettled).append(r)
        flips += len(f) if d <= TOL else 0
    same_pred = (ours.argmax(1) == theirs.argmax(1)).mean()
    what = " (noise off)" if noise_off else ""
    ok = np.ones(len(x), dtype=bool)
    ok[over] = False
    print(f"{name}{what}: {len(x)} images, max relative difference "
          f"{rel[ok].max() if ok.any() else 0:.2e}; {len(over)} rows over {TOL:g}"
          + (f", {len(settled)} of them reproduced by rounding {flips} DTReLU inputs at a "
             f"tie the other way" if watch.layers else "")
          + f"; same prediction {100 * same_pred:.1f}%; checkpoint of {meta.get('model', '?')}")
    for r in unsettled:
        print(f"{name}: image {r}: module {np.round(ours[r], 6).tolist()}, "
              f"binary {np.round(theirs[r], 6).tolist()}")
    if len(over) > len(x) // 4:
        print(f"{name}: more than a quarter of the rows differ")
        return 1
    return 1 if unsettled else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
