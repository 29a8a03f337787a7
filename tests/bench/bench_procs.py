"""bench_procs.py - `make bench`: the model binaries and their PyTorch twins
timed as a user runs them, each command a process of its own.

Usage: /usr/bin/python3 tests/bench/bench_procs.py [--rounds 5] [--threads 2,1]
           [--json FILE] [--quick] [options below]

Seed CNN (baseline; the adversarial step on adv, the same network): at each
thread count of --threads, four measures, each a pair of processes,
(a) the binary as a user runs it and (b) tests/bench/torch_run.py driving
the twin `advcc --torch` emitted (generated/<model>.py) through the same
loop on the same CIFAR-10 images with torch.set_num_threads(T):

  train step  baseline train --epochs 1 --limit N (batch 100)
  eval        baseline eval --limit N
  pgd-k       baseline attack --limit N (the spec's PGD, with the clean and
              adversarial predictions the command makes)
  adv step    adv train --epochs 1 --limit N (PGD images, then the step)

Every CIFAR-10 model of generated/models.mk at the first thread count:
training and attack speed, each relative to its undefended twin's
(made_of without its defences: quant, reg, quant_reg, rse against
baseline; quant_adv, adv_reg, quant_adv_reg against adv) run again next
to it, just before it in even rounds and just after in odd ones, and the
peak RSS of the training and attack processes.  Models of other
inputs (Fashion-MNIST) are listed as not timed.

Rounds: each round runs every pair, advcc first in even rounds and
PyTorch first in odd ones, each thread count's pairs followed by the
OpenBLAS sgemm limit at that count (sgemm_limit, square --sgemm-size
products).  Rates are the commands' own timing of their loop (train.json
train_s; eval/attack --json wall_s; the runner's perf_counter around the
same loop, its first step included as the binaries' is), so process
start-up, reading CIFAR-10 and building the model are left out; train_s
includes the epoch's state save (a few fsynced files, tens of ms), as
every epoch of a user's run does, hence training runs of thousands of
images.  The
environment is passed on unchanged (OMP_WAIT_POLICY=passive, say, to both
sides alike), but for one thing: an OPENBLAS_CORETYPE without AVX-512
(Haswell, Zen) holds both sides to the same instruction set, through
ADVCC_ISA, ONEDNN_MAX_CPU_ISA and ATEN_CPU_CAPABILITY unless they are set,
since advcc's direct convolutions and oneDNN's choose theirs without
asking OpenBLAS.
Peak RSS is the child's ru_maxrss (wait4).  The tables give medians and
quartiles over rounds; a ratio is the median of per-round ratios (the
two runs of a round are adjacent, so under about the same load).  The
share of the limit is achieved GFLOP/s, counted as direct convolution
(F the forward FLOP of one image, F1 its first layer's, k the attack's
steps: training 3F - F1, evaluation F, attack (2k + 2) F, adversarial step
(2k + 3) F - F1), over the same round's sgemm GFLOP/s.  Nothing is
asserted about speed; tests/bench/check_bench.py checks the JSON's shape.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (label, model, binary command, runner task, --images option)
SEED = [("train step", "baseline", "train", "train", "train_images"),
        ("eval", "baseline", "eval", "eval", "eval_images"),
        ("pgd", "baseline", "attack", "attack", "attack_images"),
        ("adv step", "adv", "train", "adv", "adv_images")]
# The instruction set an OPENBLAS_CORETYPE limits OpenBLAS to, for the
# cores without AVX-512 (an AVX-512 core or none leaves both sides their
# own choice).  advcc's direct convolutions and PyTorch's (oneDNN's) pick
# their instruction set themselves: both are held to the OpenBLAS kernel's
# through their own variables, so that a row measured under
# OPENBLAS_CORETYPE=Haswell compares the two as on an AVX2 machine.
CORE_ISA = {"haswell": ("avx2", "AVX2", "avx2"), "zen": ("avx2", "AVX2", "avx2"),
            "sandybridge": ("none", "AVX", "default")}
ISA_VARS = {"advcc": ("ADVCC_ISA",), "torch": ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")}


def isa_env(env, side):
    """The variables that hold one side ("advcc" or "torch") to the
    OpenBLAS kernel's instruction set, those the user set left alone."""
    isa = CORE_ISA.get(env.get("OPENBLAS_CORETYPE", "").lower())
    if not isa:
        return {}
    values = {"ADVCC_ISA": isa[0], "ONEDNN_MAX_CPU_ISA": isa[1], "ATEN_CPU_CAPABILITY": isa[2]}
    return {k: values[k] for k in ISA_VARS[side] if k not in env}


QUICK = {"rounds": 1, "train_images": 300, "eval_images": 1000, "attack_images": 100,
         "adv_images": 100, "sgemm_size": 1024, "sgemm_seconds": 0.3}


class Bench:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.env = dict(os.environ)
        self.core = "unknown"
        self.env.setdefault("CIFAR10_DIR", "data/cifar-10-batches-bin")
        self.torch_env = {**self.env, **isa_env(self.env, "torch")}
        self.env.update(isa_env(self.env, "advcc"))
        self.isa = {k: env[k] for side, env in (("advcc", self.env), ("torch", self.torch_env))
                    for k in ISA_VARS[side] if k in env}
        self.serial = 0

    def spawn(self, argv, env=None):
        """Runs argv to the end (in env, else the benchmark's); (seconds of
        the whole process, peak RSS in MiB).  A failure stops the benchmark
        with the command's stderr."""
        err = os.path.join(self.work, "stderr.txt")
        with open(err, "w") as ef:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=ef, env=env or self.env)
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            with open(err) as ef:
                tail = ef.read()[-2000:]
            sys.exit(f"bench: exit {p.returncode}: {' '.join(argv)}\n{tail}")
        return wall, usage.ru_maxrss / 1024.0

    def fresh(self, what):
        self.serial += 1
        return os.path.join(self.work, f"{self.serial:04d}-{what}")

    def advcc(self, model, command, threads, images, checkpoint=None):
        """One run of build/bin/<model>: images/s of its own timed part."""
        a = self.args
        binary = os.path.join(a.bin, model)
        common = ["--threads", str(threads), "--batch", str(a.batch), "--quiet"]
        out = self.fresh(f"{model}-{command}")
        if command == "train":
            argv = [binary, "train", "--epochs", "1", "--limit", str(images),
                    "--test-limit", str(a.batch), "--out", out] + common
            wall, rss = self.spawn(argv)
            with open(os.path.join(out, "train.json")) as f:
                got = json.load(f)
            seconds, extra = got["train_s"], {}
            shutil.rmtree(out)
        else:
            argv = [binary, command, "--checkpoint", checkpoint, "--limit", str(images),
                    "--json", out + ".json"] + common
            wall, rss = self.spawn(argv)
            with open(out + ".json") as f:
                got = json.load(f)
            os.unlink(out + ".json")
            seconds = got["wall_s"]
            extra = {k: got[k] for k in ("clean_acc", "robust_acc") if k in got}
        return dict(img_s=images / seconds, seconds=seconds, process_s=wall, rss_mib=rss, **extra)

    def torch(self, model, task, threads, images, checkpoint=None):
        a = self.args
        out = self.fresh(f"torch-{model}-{task}") + ".json"
        argv = [a.python, os.path.join(HERE, "torch_run.py"),
                "--twin", os.path.join(a.generated, model + ".py"), "--task", task,
                "--images", str(images), "--threads", str(threads), "--batch", str(a.batch),
                "--json", out]
        if checkpoint:
            argv += ["--checkpoint", checkpoint]
        wall, rss = self.spawn(argv, self.torch_env)
        with open(out) as f:
            got = json.load(f)
        os.unlink(out)
        got.update(process_s=wall, rss_mib=rss)
        return got

    def sgemm(self, threads):
        a = self.args
        out = subprocess.run([a.sgemm, str(a.sgemm_size), str(threads), str(a.sgemm_seconds)],
                             check=True, capture_output=True, text=True, env=self.env).stdout
        got = json.loads(out)
        self.core = got.get("core", "unknown")
        return got["gflops"]


def model_info(binary):
    """The facts `<model> info` prints that the benchmark needs."""
    text = subprocess.run([binary, "info"], check=True, capture_output=True, text=True).stdout
    shape = re.search(r"^input (\d+)x(\d+)x(\d+), \d+ classes, ([\d.]+) MFLOP", text, re.M)
    made = re.search(r"^made_of: (.*)$", text, re.M)
    if not shape or not made:
        sys.exit(f"bench: {binary} info: no input line or made_of")
    return {"input": tuple(int(g) for g in shape.groups()[:3]), "mflop": shape.group(4),
            "made_of": [p.strip() for p in made.group(1).split("+")]}


def twin_of(name, infos):
    """The undefended model a model is measured against: its made_of with
    adversarial training kept and every other defence dropped."""
    parts = infos[name]["made_of"]
    want = [parts[0]] + (["adv"] if "adv" in parts[1:] else [])
    for other, info in infos.items():
        if info["made_of"] == want:
            return other
    return None


def summary(values):
    v = sorted(values)
    if len(v) > 1:
        q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive")
    else:
        q1 = q3 = v[0]
    return {"values": values, "median": statistics.median(v), "q1": q1, "q3": q3}


def flop_per_image(task, flops, steps):
    f, first, passes = flops["forward"], flops["first"], flops["passes"]
    return {"train": 3 * f - first, "eval": passes * f,
            "attack": passes * (2 * steps + 2) * f,
            "adv": (2 * steps + 3) * f - first}[task]


def cell(s, scale=1.0, digits=0):
    """median [q1-q3] of a summary, times scale."""
    return (f"{scale * s['median']:.{digits}f} "
            f"[{scale * s['q1']:.{digits}f}-{scale * s['q3']:.{digits}f}]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--rounds", type=int, default=5, help="rounds [5]")
    ap.add_argument("--threads", default="2,1", help="thread counts, the first also for every model [2,1]")
    ap.add_argument("--batch", type=int, default=100, help="images a step [100]")
    ap.add_argument("--train-images", type=int, default=5000, help="images of a training run [5000]")
    ap.add_argument("--eval-images", type=int, default=5000, help="images of an evaluation run [5000]")
    ap.add_argument("--attack-images", type=int, default=500, help="images of an attack run [500]")
    ap.add_argument("--adv-images", type=int, default=1000,
                    help="images of an adversarial training run [1000]")
    ap.add_argument("--sgemm-size", type=int, default=2048, help="square sgemm size [2048]")
    ap.add_argument("--sgemm-seconds", type=float, default=1.0, help="length of an sgemm run [1.0]")
    ap.add_argument("--models", help="comma-separated models [every one of generated/models.mk]")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 round, 300/1000/100/100 images, sgemm 1024")
    ap.add_argument("--json", help="write the results here too (atomically)")
    ap.add_argument("--bin", default="build/bin", help="the model binaries [build/bin]")
    ap.add_argument("--generated", default="generated",
                    help="models.mk and the advcc --torch twins [generated]")
    ap.add_argument("--sgemm", default="build/bench/sgemm_limit",
                    help="the sgemm program [build/bench/sgemm_limit]")
    ap.add_argument("--python", default=sys.executable, help="Python with torch for the twins [this one]")
    ap.add_argument("--work", help="scratch directory [a temporary one, removed]")
    args = ap.parse_args()
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    threads = [int(t) for t in args.threads.split(",") if t]
    if args.rounds < 1 or not threads or min(threads) < 1:
        sys.exit("bench: --rounds and every thread count must be >= 1")
    if args.models:
        models = args.models.split(",")
    else:
        with open(os.path.join(args.generated, "models.mk")) as f:
            models = re.search(r"^MODELS := (.*)$", f.read(), re.M).group(1).split()

    infos = {m: model_info(os.path.join(args.bin, m)) for m in models}
    cifar = [m for m in models if infos[m]["input"] == (3, 32, 32)]
    skipped = {m: "input {}x{}x{}: not CIFAR-10, not timed".format(*infos[m]["input"])
               for m in models if m not in cifar}
    for need in ("baseline", "adv"):
        if need not in cifar:
            sys.exit(f"bench: the seed CNN's measures need model {need}")
    twins = {m: twin_of(m, infos) for m in cifar}
    mt = threads[0]

    work = args.work or tempfile.mkdtemp(prefix="advcc-bench-")
    os.makedirs(work, exist_ok=True)
    bench = Bench(args, work)
    load_start = os.getloadavg()
    started = time.time()
    print(f"bench: {len(cifar)} CIFAR-10 models, threads {threads}, batch {args.batch}, "
          f"{args.rounds} round(s); load average {load_start[0]:.2f} at the start", flush=True)

    # Checkpoints for eval and attack: one short untimed training per model
    # (it also brings CIFAR-10 into the page cache).
    ckpt = {}
    for m in cifar:
        out = os.path.join(work, f"setup-{m}")
        bench.spawn([os.path.join(args.bin, m), "train", "--epochs", "1",
                     "--limit", str(args.batch), "--test-limit", str(args.batch),
                     "--threads", str(mt), "--quiet", "--out", out])
        ckpt[m] = os.path.join(out, "checkpoint.safetensors")

    runs = {}   # (side, model, command, threads, round) -> result

    def advcc_run(m, command, t, images, r, key=None):
        key = key or ("advcc", m, command, t, r)
        if key not in runs:
            runs[key] = bench.advcc(m, command, t, images,
                                    None if command == "train" else ckpt[m])
        return runs[key]

    gemm = {t: [] for t in threads}
    for r in range(args.rounds):
        for t in threads:
            for label, m, command, task, size in SEED:
                images = getattr(args, size)
                sides = ["advcc", "torch"] if r % 2 == 0 else ["torch", "advcc"]
                for side in sides:
                    if side == "advcc":
                        advcc_run(m, command, t, images, r)
                    else:
                        runs[("torch", m, task, t, r)] = bench.torch(
                            m, task, t, images, None if task == "train" or task == "adv" else ckpt[m])
            gemm[t].append(bench.sgemm(t))
        for m in cifar:
            for command, images in (("train", args.adv_images if "adv" in infos[m]["made_of"]
                                     else args.train_images), ("attack", args.attack_images)):
                tw = twins[m]
                if not tw or tw == m:
                    advcc_run(m, command, mt, images, r)
                    continue
                # The twin again, next to the model: a ratio of runs minutes
                # apart moved 10-15% with the machine's pace.
                for side in ([tw, m] if r % 2 == 0 else [m, tw]):
                    advcc_run(side, command, mt, images, r,
                              ("twin", m, command, r) if side == tw else None)
        print(f"bench: round {r + 1}/{args.rounds} done, {time.time() - started:.0f} s, "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
    load_end = os.getloadavg()

    ref = runs[("torch", "baseline", "train", threads[0], 0)]
    flops = {"forward": ref["flops_forward"], "first": ref["flops_first"], "passes": ref["passes"]}
    steps = ref["attack_steps"]
    if f"{flops['forward'] / 1e6:.1f}" != infos["baseline"]["mflop"]:
        sys.exit(f"bench: the twin counts {flops['forward'] / 1e6:.1f} MFLOP a forward pass, "
                 f"baseline info {infos['baseline']['mflop']}")

    result = {"host": platform.node(), "cpu": cpu_name(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "load_average_start": load_start[0], "load_average_end": load_end[0],
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
              "openblas_core": bench.core,
              "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
              "isa": bench.isa,
              "rounds": args.rounds, "batch": args.batch, "threads": threads,
              "images": {k: getattr(args, k) for k in
                         ("train_images", "eval_images", "attack_images", "adv_images")},
              "timing": "each command's own timing of its loop: train.json train_s, eval/attack "
                        "--json wall_s, torch_run.py perf_counter; start-up, data loading and "
                        "model building excluded",
              "flops": {**flops, "attack_steps": steps,
                        "per_image": {task: flop_per_image(task, flops, steps)
                                      for task in ("train", "eval", "attack", "adv")}},
              "sgemm": {"size": args.sgemm_size,
                        **{str(t): summary(gemm[t]) for t in threads}},
              "seed": {}, "models": {}, "skipped": skipped}
    rounds = range(args.rounds)
    for t in threads:
        rows = {}
        for label, m, command, task, _ in SEED:
            name = f"pgd-{steps}" if label == "pgd" else label
            fpi = flop_per_image(task, flops, steps)
            row = {"model": m, "flop_per_image": fpi}
            for side, key in (("advcc", command), ("torch", task)):
                got = [runs[(side, m, key, t, r)] for r in rounds]
                row[side] = {"img_s": summary([g["img_s"] for g in got]),
                             "share": summary([g["img_s"] * fpi / 1e9 / gemm[t][r]
                                               for r, g in zip(rounds, got)]),
                             "rss_mib": summary([g["rss_mib"] for g in got]),
                             "process_s": summary([g["process_s"] for g in got])}
                if "clean_acc" in got[0]:
                    row[side]["clean_acc"] = got[0]["clean_acc"]
            row["ratio"] = summary([runs[("advcc", m, command, t, r)]["img_s"] /
                                    runs[("torch", m, task, t, r)]["img_s"] for r in rounds])
            rows[name] = row
        result["seed"][str(t)] = rows
    for m in cifar:
        tw = twins[m]
        entry = {"twin": tw, "threads": mt}
        for command in ("train", "attack"):
            got = [runs[("advcc", m, command, mt, r)] for r in rounds]
            entry[command] = {"img_s": summary([g["img_s"] for g in got]),
                              "rss_mib": summary([g["rss_mib"] for g in got]),
                              "process_s": summary([g["process_s"] for g in got])}
            if tw and tw != m:
                # Time per image relative to the twin's: > 1 is slower.
                entry[command]["vs_twin"] = summary(
                    [runs[("twin", m, command, r)]["img_s"] / g["img_s"]
                     for r, g in zip(rounds, got)])
        result["models"][m] = entry

    report(result, threads)
    if args.json:
        tmp = f"{args.json}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(tmp, args.json)
    if not args.work:
        shutil.rmtree(work)
    return 0


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(res, threads):
    fl = res["flops"]
    print(f"\nbench on {res['cpu']}: batch {res['batch']}, {res['rounds']} round(s), "
          f"load average {res['load_average_start']:.2f} at the start, "
          f"{res['load_average_end']:.2f} at the end; OMP_WAIT_POLICY {res['omp_wait_policy']}")
    print(f"OpenBLAS kernel: {res.get('openblas_core', 'unknown')} "
          f"(OPENBLAS_CORETYPE {res.get('openblas_coretype', '(unset)')}), the same for the "
          f"model binaries and the sgemm limit; advcc's direct convolutions and PyTorch's "
          f"(oneDNN's) "
          + ("held to the same instruction set ("
             + ", ".join(f"{k}={v}" for k, v in res["isa"].items()) + ")"
             if res.get("isa") else "on their own choice of instruction set"))
    print(f"timing: {res['timing']}")
    print(f"FLOP as direct convolution: F = {fl['forward'] / 1e6:.2f} MFLOP a forward pass, "
          f"F1 = {fl['first'] / 1e6:.2f} its first layer; train 3F - F1, eval F, "
          f"pgd-{fl['attack_steps']} {2 * fl['attack_steps'] + 2}F, "
          f"adv step {2 * fl['attack_steps'] + 3}F - F1 an image")
    print("median [quartiles] over rounds; ratio advcc/PyTorch: median of the per-round "
          "ratios; share: GFLOP/s over the round's sgemm GFLOP/s")
    for t in threads:
        g = res["sgemm"][str(t)]
        print(f"\nseed CNN, {t} thread(s); sgemm {res['sgemm']['size']}: {cell(g, digits=1)} GFLOP/s")
        print(f"  {'':10} {'advcc img/s':>20} {'PyTorch img/s':>20} {'ratio':>17} "
              f"{'advcc share %':>17} {'PyTorch share %':>17} {'RSS MiB':>9}")
        for name, row in res["seed"][str(t)].items():
            c, p = row["advcc"], row["torch"]
            print(f"  {name:10} {cell(c['img_s']):>20} {cell(p['img_s']):>20} "
                  f"{cell(row['ratio'], digits=2):>17} {cell(c['share'], 100, 1):>17} "
                  f"{cell(p['share'], 100, 1):>17} "
                  f"{c['rss_mib']['median']:4.0f}/{p['rss_mib']['median']:.0f}")
        accs = [(n, r["advcc"]["clean_acc"], r["torch"]["clean_acc"])
                for n, r in res["seed"][str(t)].items() if "clean_acc" in r["advcc"]]
        print("  clean accuracy advcc/PyTorch, same checkpoint and images: " +
              ", ".join(f"{n} {100 * a:.1f}%/{100 * b:.1f}%" for n, a, b in accs))
    mt = threads[0]
    print(f"\nevery CIFAR-10 model, {mt} thread(s); x twin: time per image over the "
          f"undefended twin's run next to it, median of the per-round ratios")
    print(f"  {'model':14} {'twin':9} {'train img/s':>18} {'x twin':>17} "
          f"{'attack img/s':>18} {'x twin':>17} {'RSS MiB train/attack':>21}")
    for m, e in res["models"].items():
        ratios = [cell(e[c]["vs_twin"], digits=2) if "vs_twin" in e[c] else "-"
                  for c in ("train", "attack")]
        twin = e["twin"] if e["twin"] and e["twin"] != m else "-"
        print(f"  {m:14} {twin:9} {cell(e['train']['img_s']):>18} {ratios[0]:>17} "
              f"{cell(e['attack']['img_s'], digits=1):>18} {ratios[1]:>17} "
              f"{e['train']['rss_mib']['median']:16.0f}/{e['attack']['rss_mib']['median']:.0f}")
    for m, why in res["skipped"].items():
        print(f"  {m:14} {why}")


if __name__ == "__main__":
    sys.exit(main())
