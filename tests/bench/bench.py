"""bench.py - time a generated model against the same model in PyTorch.

Usage: /usr/bin/python3 tests/bench/bench.py --lib build/pic/libbench_baseline.so
           [--model baseline] [--batch 100] [--threads 2] [--rounds 7]
           [--seconds 1.0] [--sgemm 2048]

The generated model comes as a shared library (tests/bench/bench_api.c) loaded
with ctypes into this process, so that each measure alternates the C code and
PyTorch run for run: the machine is shared and noisy, and only ratios of runs
interleaved in one process are worth comparing.  Both sides start from the
same parameters (the C initialisation, loaded into PyTorch), run float32 on
the same batch with the same number of threads, and time:

  train step   forward with batch statistics + cross-entropy + backward +
               SGD update with the spec's recipe (momentum)
  eval         forward with running statistics (PyTorch: eval(), no_grad())
  pgd-k        the spec's evaluation attack (docs/METHODS.md 2): random start and
               k forward + input-gradient passes in evaluation mode
               (PyTorch: torch.autograd.grad with respect to the images only)
  adv step     adversarial training (docs/METHODS.md 3): the training attack with
               batch statistics and frozen running statistics, then a
               training step on its images

After a warm-up, each round times every measure on both sides (the order
alternates between rounds), each run long enough to take about --seconds
(at least one iteration).  The table gives the median images/s over rounds,
the ratio advcc/torch as the median of per-round ratios (two adjacent runs
see about the same load), its quartiles, and each side's best round.  Every
round also times cblas_sgemm on square --sgemm matrices through the
library's OpenBLAS: the machine's matrix-multiply limit, against which the
achieved GFLOP/s (model->flops_forward a forward pass, 3x for a training
step) is reported as a share, round by round.
"""
import argparse
import ctypes
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
import torch_models  # noqa: E402
from safetensors_np import read_safetensors  # noqa: E402


def load_library(path):
    lib = ctypes.CDLL(os.path.abspath(path))
    lib.bench_model_name.restype = ctypes.c_char_p
    for f in ("bench_in_c", "bench_in_h", "bench_in_w", "bench_classes", "bench_real_bytes"):
        getattr(lib, f).restype = ctypes.c_int
    lib.bench_flops_forward.restype = ctypes.c_longlong
    lib.bench_set_threads.argtypes = [ctypes.c_int]
    lib.bench_create.restype = ctypes.c_void_p
    lib.bench_create.argtypes = [ctypes.c_int, ctypes.c_ulonglong]
    lib.bench_destroy.argtypes = [ctypes.c_void_p]
    lib.bench_set_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.bench_save.restype = ctypes.c_int
    lib.bench_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.bench_train_cfg.argtypes = [ctypes.POINTER(ctypes.c_double)] * 3
    lib.bench_attack_cfg.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                                     ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
                                     ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    for f in ("bench_train", "bench_eval", "bench_pgd", "bench_adv_train"):
        getattr(lib, f).restype = ctypes.c_double
        getattr(lib, f).argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.bench_sgemm.restype = ctypes.c_double
    lib.bench_sgemm.argtypes = [ctypes.c_int, ctypes.c_int]
    return lib


def load_images(in_shape, batch, seed):
    """The first `batch` CIFAR-10 test images when $CIFAR10_DIR is set and
    the model takes them, else random pixels; NCHW float32 in [0,1]."""
    d = os.environ.get("CIFAR10_DIR")
    if d and tuple(in_shape) == (3, 32, 32):
        path = os.path.join(d, "test_batch.bin")
        raw = np.fromfile(path, dtype=np.uint8, count=batch * 3073)
        if raw.size == batch * 3073:
            rec = raw.reshape(batch, 3073)
            x = rec[:, 1:].reshape(batch, 3, 32, 32).astype(np.float32) / 255.0
            return x, rec[:, 0].astype(np.int32), f"cifar10 test[0:{batch}]"
    rng = np.random.default_rng(seed)
    x = rng.random((batch,) + tuple(in_shape), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    return x, y, "random pixels"


INIT_NONE, INIT_GAUSSIAN, INIT_UNIFORM = 0, 1, 2   # enum advcc_init
LINF, CLIP_PIXEL = 0, 0                            # enum advcc_norm, advcc_clip


def attack_cfg(lib, b, which):
    eps, alpha = ctypes.c_double(), ctypes.c_double()
    steps, init, norm, clip = (ctypes.c_int() for _ in range(4))
    lib.bench_attack_cfg(b, which, ctypes.byref(eps), ctypes.byref(alpha), ctypes.byref(steps),
                         ctypes.byref(init), ctypes.byref(norm), ctypes.byref(clip))
    return {"eps": eps.value, "alpha": alpha.value, "steps": steps.value,
            "init": init.value, "norm": norm.value, "clip": clip.value}


def torch_pgd(model, x, y, cfg):
    """L-infinity PGD as runtime/pgd.c takes it (one attempt): random start,
    then steps of x += alpha * sign(grad), each point clipped to [0,1] and
    then to the eps box around x.  Only the input gradient is computed."""
    eps, alpha = cfg["eps"], cfg["alpha"]
    lo, hi = x - eps, x + eps

    def project(v):
        return torch.min(torch.max(v.clamp(0.0, 1.0), lo), hi)

    if cfg["init"] == INIT_GAUSSIAN:
        v = project(x + eps * torch.randn_like(x))
    elif cfg["init"] == INIT_UNIFORM:
        v = project(x + eps * (2 * torch.rand_like(x) - 1))
    else:
        v = x.clone()
    for _ in range(cfg["steps"]):
        v.requires_grad_(True)
        loss = F.cross_entropy(model(v), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, v)
        v = project(v.detach() + alpha * g.sign())
    return v.detach()


def set_bn_momentum(model, momentum):
    """momentum 0 freezes the running statistics while BatchNorm still
    normalises by batch statistics (the attack passes of adversarial
    training, ADVCC_TRAIN_FROZEN)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = momentum


def timed(fn, iters):
    t0 = time.perf_counter()
    fn(iters)
    return time.perf_counter() - t0


def calibrate(fn, seconds):
    """Warm up, then the number of iterations that takes about `seconds`."""
    fn(1)
    t = max(timed(fn, 1), 1e-6)
    iters = max(1, int(round(seconds / t)))
    timed(fn, min(iters, 3))    # settle after the calibration run
    return iters


def quartiles(v):
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return q[0], q[2]


def report(name, args, source, flops, measures, rates, gemm):
    """Medians over rounds; a ratio is the median of the per-round ratios
    (each of two adjacent runs, so under the same load), with its quartiles.
    'best' is each side's fastest round, the machine's unloaded speed when
    other work comes and goes."""
    print(f"bench {name}: batch {args.batch}, {args.threads} threads, float32, {source}; "
          f"{args.rounds} rounds alternating advcc and PyTorch")
    shares = []
    for label, _, _, fpi in measures:
        c, t = rates[label]
        ratios = [a / b for a, b in zip(c, t)]
        q1, q3 = quartiles(ratios)
        print(f"  {label:<11} advcc {statistics.median(c):6.0f} img/s  "
              f"torch {statistics.median(t):6.0f} img/s  ratio {statistics.median(ratios):5.2f}"
              f"  (quartiles {q1:.2f}-{q3:.2f}; best advcc {max(c):.0f}, torch {max(t):.0f}:"
              f" {max(c) / max(t):.2f})")
        shares.append((label, fpi, c, t))
    print(f"  sgemm {args.sgemm}  {statistics.median(gemm):6.1f} GFLOP/s median, "
          f"{max(gemm):.1f} best: the machine's limit through OpenBLAS")
    print(f"  FLOP from model->flops_forward ({flops / 1e6:.1f} MFLOP/image): training step 3x,"
          f" pgd-k 2k x, adversarial step (2k+3) x a forward pass")
    for label, fpi, c, t in shares:
        cs = statistics.median([r * fpi / g / 1e9 for r, g in zip(c, gemm)])
        ts = statistics.median([r * fpi / g / 1e9 for r, g in zip(t, gemm)])
        print(f"  {label:<11} advcc {statistics.median(c) * fpi / 1e9:5.1f} GFLOP/s = {100 * cs:4.1f}%"
              f" of sgemm (best {100 * max(c) * fpi / 1e9 / max(gemm):4.1f}%);"
              f"  torch {statistics.median(t) * fpi / 1e9:5.1f} GFLOP/s = {100 * ts:4.1f}%"
              f" (best {100 * max(t) * fpi / 1e9 / max(gemm):4.1f}%)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--model", default=None, help="PyTorch definition (default: the library's model)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one timed run")
    ap.add_argument("--sgemm", type=int, default=2048, help="square sgemm size for the limit")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    lib = load_library(args.lib)
    name = args.model or lib.bench_model_name().decode()
    if lib.bench_real_bytes() != 4:
        sys.exit("bench: the library is not float32")
    torch.set_num_threads(args.threads)
    lib.bench_set_threads(args.threads)

    in_shape = (lib.bench_in_c(), lib.bench_in_h(), lib.bench_in_w())
    b = lib.bench_create(args.batch, args.seed)
    if not b:
        sys.exit("bench: bench_create failed (out of memory?)")
    try:
        x, y, source = load_images(in_shape, args.batch, args.seed)
        lib.bench_set_batch(b, x.ctypes.data, y.ctypes.data)

        # Same parameters on both sides.
        model = torch_models.build(name)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "init.safetensors")
            err = ctypes.create_string_buffer(512)
            if lib.bench_save(b, path.encode(), err, len(err)) != 0:
                sys.exit(f"bench: {err.value.decode()}")
            tensors, _ = read_safetensors(path)
        torch_models.load_arrays(model, tensors)
        lr, mom, wd = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        lib.bench_train_cfg(ctypes.byref(lr), ctypes.byref(mom), ctypes.byref(wd))
        opt = torch.optim.SGD(model.parameters(), lr=lr.value, momentum=mom.value,
                              weight_decay=wd.value)
        xt = torch.from_numpy(x)
        yt = torch.from_numpy(y.astype(np.int64))

        def torch_train(n):
            model.train()
            for _ in range(n):
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt), yt)
                loss.backward()
                opt.step()

        def torch_eval(n):
            model.eval()
            with torch.no_grad():
                for _ in range(n):
                    model(xt)

        attack = attack_cfg(lib, b, 0)
        train_attack = attack_cfg(lib, b, 1)

        def torch_attack(n):
            model.eval()
            for _ in range(n):
                torch_pgd(model, xt, yt, attack)

        def torch_adv_train(n):
            for _ in range(n):
                model.train()
                set_bn_momentum(model, 0.0)
                xadv = torch_pgd(model, xt, yt, train_attack)
                set_bn_momentum(model, 0.1)
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xadv), yt)
                loss.backward()
                opt.step()

        # Both sides must compute the same function before they are timed.
        with torch.no_grad():
            model.eval()
            tloss = F.cross_entropy(model(xt), yt).item()
        closs = lib.bench_eval(b, 1)
        if not abs(closs - tloss) <= 1e-4 * max(1.0, abs(tloss)):
            sys.exit(f"bench: advcc and PyTorch disagree on the loss of the batch: "
                     f"{closs:.7g} against {tloss:.7g}")
        if lib.bench_pgd(b, 1) < 0:
            sys.exit("bench: the model's attack configuration is invalid")

        flops = lib.bench_flops_forward()
        measures = [
            # label, C function, PyTorch function, FLOP per image (a
            # backward pass taken as twice a forward, an input-only one as
            # once: estimates for the attack rows)
            ("train step", lambda n: lib.bench_train(b, n), torch_train, 3 * flops),
            ("eval", lambda n: lib.bench_eval(b, n), torch_eval, flops),
        ]
        for cfg, label, cfn, tfn, fpi in (
                (attack, f"pgd-{attack['steps']}", lambda n: lib.bench_pgd(b, n),
                 torch_attack, 2 * attack["steps"] * flops),
                (train_attack, "adv step", lambda n: lib.bench_adv_train(b, n),
                 torch_adv_train, (2 * train_attack["steps"] + 3) * flops)):
            if cfg["norm"] == LINF and cfg["clip"] == CLIP_PIXEL:
                measures.append((label, cfn, tfn, fpi))
            else:
                print(f"bench: {label}: only L-infinity PGD in pixel space has a PyTorch twin; skipped")

        iters = {}
        for label, cfn, tfn, _ in measures:
            iters[label] = (calibrate(cfn, args.seconds), calibrate(tfn, args.seconds))
        n3 = 2.0 * args.sgemm ** 3
        sgemm_reps = max(1, int(round(args.seconds * 50e9 / n3)))
        lib.bench_sgemm(args.sgemm, 1)

        rates = {label: ([], []) for label, *_ in measures}
        gemm = []
        for r in range(args.rounds):
            for label, cfn, tfn, _ in measures:
                ci, ti = iters[label]
                pair = [(0, cfn, ci), (1, tfn, ti)]
                if r % 2:
                    pair.reverse()
                for side, fn, n in pair:
                    rates[label][side].append(n * args.batch / timed(fn, n))
            gemm.append(sgemm_reps * n3 / lib.bench_sgemm(args.sgemm, sgemm_reps) / 1e9)
        report(name, args, source, flops, measures, rates, gemm)
    finally:
        lib.bench_destroy(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
