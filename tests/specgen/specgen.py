"""specgen.py - the spec fuzzer: random valid (and now and then deliberately
broken) model specs from tests/specgen/gen.py, each checked three ways:

  (a) advcc compiles it and writes <model>.c, .h and models.mk (the same
      bytes a second time; `advcc --shapes` agrees with the spec's reading
      on every layer's name, kind, output shape and parameter count, and
      <model>.json on the layer each reads), or, for a spec gen.py broke,
      rejects it with `file:LINE:col: error:` at the line of the fault and
      writes nothing; the C compiles in double and in float under the
      project's warnings;
  (b) the double build passes finite differences on every trained tensor
      and the input, in training (frozen) and evaluation mode
      (tests/specgen/specgen_gradcheck.c).  Left to (c): models with
      piecewise-constant activations (dtrelu, naivedt, ddtrelu), a
      pwlinear whose input or output sits exactly on a kink (after a
      clamp, or clamping to 0 before a relu), models with nothing trained;
      quantised weights' own entries;
  (c) the dumper (tests/specgen/specgen_dump.c, the double build of
      tests/oracle/dump_model.c) agrees with the PyTorch twin that
      tests/oracle/specgen_twin.py builds from the spec's JSON layer list
      (tests/oracle/specgen_check.py): logits, loss, every gradient, running
      statistics, regularisers, two optimiser steps, the attack's gradient.  A
      case that fails there with a batchnorm fed a channel of equal values
      (variance 0: 1/sqrt(eps) scales rounding) or an input within rounding
      of a kink is excused, like oracle.py's kinks, and counted.

All generated models are linked into one dumper and one gradient checker.
A failing case is shrunk (layers, statements and optional parameters
dropped while it fails at the same step) and written to --found as
NAME.net and NAME.json.

  python3 tests/specgen/specgen.py --seed 1 --count 50 --work build/specgen [--no-flat-bn]
  python3 tests/specgen/specgen.py --cases tests/specgen/found/*.json ...

The last line is `N passed, N failed` (cases).  Make passes the compiler
and its flags (see tests/specgen/specgen.mk).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import gen  # noqa: E402
import specgen_twin  # noqa: E402

STEP_TIMEOUT = 300
ORDER = ("a", "cc", "fd", "dump", "oracle")


def sh(cmd, timeout=STEP_TIMEOUT, **kw):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout, **kw)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "timeout", out


class Tools:
    def __init__(self, args):
        self.advcc = os.path.abspath(args.advcc)
        self.cc = args.cc
        # absolute: the models are compiled from the work directory
        self.cflags = [f"-I{os.path.abspath(f[2:])}" if f.startswith("-I") else f
                       for f in args.cflags.split()]
        self.runtime64 = os.path.abspath(args.runtime64)
        self.ldlibs = args.ldlibs.split()
        self.jobs = args.jobs


def model_flags(spec):
    """(finite differences apply, skip mask) of a valid spec."""
    layers, regs, _, _ = specgen_twin.validate(spec)
    if any(l["kind"] in specgen_twin.STAIRCASE for l in layers):
        return False, 0
    if not any(k != "state" for _, _, k in specgen_twin.tensors(layers, regs)):
        return False, 0     # nothing trained (model_gradcheck.h wants a tensor)
    # A clamping layer (relu, pwlinear) before a pwlinear sends values
    # exactly onto its thresholds (both start at lo = 0 by default): a kink
    # central differences straddle.  The oracle takes those.
    # And a pwlinear clamps to lo and hi, where a relu after it or the next
    # pwlinear may have its kink (0, the default lo).
    clamp = False
    for i, l in enumerate(layers):
        if l["kind"] == "pwlinear" and clamp:
            return False, 0
        if l["kind"] == "pwlinear" and 0.0 in (l["lo"], l["hi"]) and \
                any(m["kind"] == "relu" for m in layers[i + 1:]):
            return False, 0
        clamp = clamp or l["kind"] in ("relu", "pwlinear")
    if not any(l.get("quant") for l in layers):
        return True, 0
    # quantised weights: every weight left out; something else must remain
    kinds = {k for _, _, k in specgen_twin.tensors(layers, regs)}
    return bool(kinds - {"weight", "state"}), 1 << 0


def known(spec):
    """A defect fixed before that a failing spec may run into again, or
    None: batchnorm of a flat input (after flatten or linear), computed
    wrongly before its fix (tests/specgen/found/fz_2_15)."""
    try:
        layers, _, _, _ = specgen_twin.validate(spec)
    except specgen_twin.SpecError:
        return None
    if any(l["kind"] == "batchnorm" and len(l["in"]) == 1 for l in layers):
        return "has batchnorm of a flat input"
    return None


def check_advcc(spec, path, out, tools):
    """(a): (ok, text)."""
    want = gen.expected(spec)
    rc, text = sh([tools.advcc, "-q", path, "-o", out])
    written = sorted(os.listdir(out)) if os.path.isdir(out) else []
    if want is None:
        name = spec["name"]
        need = [f"{name}.c", f"{name}.h", "models.mk"]
        if rc != 0 or any(f not in written for f in need):
            return False, f"advcc rejected a valid spec (exit {rc}, wrote {written}):\n{text}"
        again = out + ".again"
        sh([tools.advcc, "-q", path, "-o", again])
        for f in need:
            with open(os.path.join(out, f), "rb") as a, open(os.path.join(again, f), "rb") as b:
                if a.read() != b.read():
                    return False, f"advcc wrote a different {f} the second time"
        shutil.rmtree(again)
        ok, text = check_shapes(spec, path, tools)
        return check_wiring(spec, os.path.join(out, f"{name}.json")) if ok else (ok, text)
    first = text.splitlines()[0] if text else ""
    m = re.match(r"^(.*):(\d+):(\d+): error: ", first)
    if rc != 1 or not m or m.group(1) != path or int(m.group(2)) != want or written:
        return False, (f"advcc must reject at line {want} ({spec.get('fault')}) and write "
                       f"nothing; exit {rc}, wrote {written}, said:\n{text}")
    return True, f"rejected at line {want}: {first.split('error: ', 1)[1]}"


def layer_params(l):
    """Trained values of one layer, as the spec language counts them."""
    k = l["kind"]
    if k == "conv":
        kh, kw = specgen_twin.pair(l["k"])
        return l["out"] * l["in"][0] * kh * kw + (l["out"] if l["bias"] else 0)
    if k == "linear":
        return l["out"] * l["in"][0] + (l["out"] if l["bias"] else 0)
    if k == "batchnorm":
        return 2 * l["in"][0]
    if k == "dtrelu":
        return 2
    if k == "pwlinear":
        return 2 * l["levels"]
    if k in ("naivedt", "ddtrelu"):
        return l["levels"]
    return 0


def check_shapes(spec, path, tools):
    """advcc --shapes of an accepted spec against the twin's reading: each
    layer's name, kind, output shape and parameter count, and the total."""
    rc, text = sh([tools.advcc, "--shapes", path])
    layers, _, _, _ = specgen_twin.validate(spec)
    want = []
    for l in layers:
        o = l["out_shape"]
        shape = f"{o[0]}x{o[1]}x{o[2]}" if len(o) == 3 else f"{o[0]}x1x1"
        want.append((l["name"], l["kind"], shape, layer_params(l)))
    got, inside, total = [], False, None
    for line in text.splitlines():
        if line.startswith("model "):
            inside = line.split()[1] == spec["name"]
            continue
        f = line.split()
        if inside and f and f[0] == "total":
            total = int(f[1])
            inside = False
            continue
        if not inside or len(f) < 4 or f[0] == "layer":
            continue
        got.append((f[0], f[1], f[2], int(f[3])))
    want_total = sum(w[3] for w in want)
    if rc != 0 or got != want or total != want_total:
        diff = [f"    line {i}: advcc {g}, spec {w}" for i, (g, w) in
                enumerate(zip(got + [None] * len(want), want + [None] * len(got))) if g != w]
        return False, (f"advcc --shapes (exit {rc}) differs from the spec's reading "
                       f"(total {total}, spec {want_total}):\n" + "\n".join(diff[:10]))
    return True, f"compiled; --shapes agrees on {len(want)} layers, {want_total} parameters"


def check_wiring(spec, path):
    """The layers each layer reads, in advcc's description of the model
    (<model>.json: src, and an add's src2), against the spec's reading."""
    layers, _, _, _ = specgen_twin.validate(spec)
    name = {None: "input"}
    name.update((l["uid"], l["name"]) for l in layers)
    want = [(l["name"], name[l["src"]], name[l["src2"]] if "src2" in l else None)
            for l in layers]
    with open(path) as f:
        got = [(l["name"], l.get("src"), l.get("src2")) for l in json.load(f)["layers"]]
    if got != want:
        diff = [f"    advcc {g}, spec {w}" for g, w in zip(got, want) if g != w]
        return False, (f"{path}: the layers read differ from the spec's reading "
                       f"({len(got)} layers, spec {len(want)}):\n" + "\n".join(diff[:10]))
    adds = sum(1 for l in layers if l["kind"] == "add")
    return True, f"compiled; --shapes and the wiring agree on {len(want)} layers ({adds} adds)"


def write_build(work, names, tools):
    """Compiles the accepted models (double) and links the dumper and the
    gradient checker; returns {name: (ok, text)} of the compiles."""
    obj = os.path.join(work, "obj")
    os.makedirs(obj, exist_ok=True)
    flags = " ".join(tools.cflags)
    # each model in double (linked below) and in float (compiled only: the
    # product's build must take it too)
    rules = ["MAKEFLAGS += --no-builtin-rules", ".SUFFIXES:", "all: " + " ".join(
        f"obj/{n}.o obj/{n}.f.o" for n in names)]
    for n in names:
        rules.append(f"obj/{n}.o: advcc/{n}/{n}.c\n\t{tools.cc} {flags} -DADVCC_DOUBLE -c $< -o $@ "
                     f"> obj/{n}.log 2>&1 || (cat obj/{n}.log; exit 1)")
        rules.append(f"obj/{n}.f.o: advcc/{n}/{n}.c\n\t{tools.cc} {flags} -c $< -o $@ "
                     f"> obj/{n}.f.log 2>&1 || (cat obj/{n}.f.log; exit 1)")
    with open(os.path.join(work, "Makefile"), "w") as f:
        f.write("\n".join(rules) + "\n")
    sh(["make", "-k", f"-j{tools.jobs}", "-C", work], timeout=1800)
    res = {}
    for n in names:
        for suffix, what in (("", "in double"), (".f", "in float")):
            if not os.path.exists(os.path.join(obj, f"{n}{suffix}.o")):
                log = os.path.join(obj, f"{n}{suffix}.log")
                res[n] = (False, f"the generated C does not compile {what}:\n" +
                          (open(log).read() if os.path.exists(log) else "(no log)"))
                break
        else:
            res[n] = (True, "double and float")
    ok = [n for n in names if res[n][0]]
    table = os.path.join(work, "table.c")
    with open(table, "w") as f:
        f.write('#include "model.h"\n')
        for n in ok:
            f.write(f"extern const advcc_model advcc_model_{n};\n")
        f.write("extern const advcc_model *const specgen_models[];\n")
        f.write("const advcc_model *const specgen_models[] = {\n")
        for n in ok:
            f.write(f"    &advcc_model_{n},\n")
        f.write("    NULL,\n};\n")
    objs = [os.path.join(obj, f"{n}.o") for n in ok]
    for prog in ("specgen_dump", "specgen_gradcheck"):
        src = os.path.join(HERE, f"{prog}.c")
        cmd = [tools.cc] + tools.cflags + ["-DADVCC_DOUBLE", "-Itests", src, table] + objs + \
            [tools.runtime64] + (["-lcmocka"] if prog == "specgen_gradcheck" else []) + \
            ["-llapacke"] + tools.ldlibs + ["-o", os.path.join(work, prog)]
        rc, text = sh(cmd, timeout=1800)
        if rc != 0:
            raise RuntimeError(f"linking {prog} failed:\n{text}")
    return res


def run_gradcheck(work, specs):
    """(b): {name: (ok or None, text)}."""
    res, args = {}, []
    for s in specs:
        fd, skip = model_flags(s)
        if fd:
            args.append(f"{s['name']}:{skip}")
        else:
            res[s["name"]] = (None, "piecewise-constant activation, a kink, only quantised "
                                    "weights or nothing trained: left to the oracle")
    if not args:
        return res

    def parse(text, names):
        out = {}
        for n in names:
            t = [re.search(rf"^\[ +(OK|FAILED) +\] {re.escape(n)}/{m}$", text, re.M)
                 for m in ("train", "eval")]
            if all(x and x.group(1) == "OK" for x in t):
                out[n] = (True, "train and eval")
            elif all(t):
                lines = [l for l in text.splitlines() if n in l or "finite difference" in l]
                out[n] = (False, "\n".join(lines[:12]))
        return out

    names = [a.split(":")[0] for a in args]
    rc, text = sh([os.path.join(work, "specgen_gradcheck")] + args, timeout=1800)
    got = parse(text, names)
    for a, n in zip(args, names):
        if n not in got:    # a crash or a timeout took the rest: one by one
            rc1, t1 = sh([os.path.join(work, "specgen_gradcheck"), a])
            g1 = parse(t1, [n])
            got[n] = g1.get(n, (False, f"gradcheck exit {rc1}:\n{t1[-2000:]}"))
    res.update(got)
    return res


def run_oracle(work, specs, batch):
    """(c): {name: (ok, text)}."""
    import specgen_check
    res = {}
    for s in specs:
        n = s["name"]
        d = os.path.join(work, "dump", n)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        rc, text = sh([os.path.join(work, "specgen_dump"), n, "--out", d, "--seed", "1",
                       "--batch", str(batch), "--data", "random"])
        if rc != 0:
            res[n] = (False, f"dumper exit {rc}:\n{text[-3000:]}", "dump")
            continue
        try:
            r = specgen_check.check(s, d)
        except Exception as e:     # a crash of the twin on a valid spec is a finding too
            res[n] = (False, f"checker raised {type(e).__name__}: {e}", "oracle")
            continue
        fails = [l for l in r.lines if l.startswith("  FAIL")]
        text = f"{r.passed} passed, {r.failed} failed" + \
            ("\n" + "\n".join(fails[:20]) if fails else "")
        if fails and (r.degenerate or r.ties):
            # a batchnorm fed a constant channel (both sides round its mean
            # differently and 1/sqrt(eps) makes that count), or an input on
            # a kink (a clamp's output on the next threshold): excused, like
            # oracle.py's kinks, and counted in the summary
            why = []
            if r.degenerate:
                why.append(f"constant channel into batchnorm {', '.join(r.degenerate)}")
            if r.ties:
                why.append(f"inputs on a kink of {', '.join(r.ties)}")
            res[n] = (None, "excused, degenerate: " + "; ".join(why) + "; " + text, "oracle")
            continue
        res[n] = (not fails, text, "oracle")
    return res


def run_cases(cases, work, tools, batch=8, log=None):
    """Every check of every case; {name: {"status": first failing step or
    None, "steps": {step: (ok, text)}}}."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "specs"))
    out = {}
    accepted = []
    for s in cases:
        n = s["name"]
        text = gen.render(s)
        path = os.path.join(work, "specs", f"{n}.net")
        with open(path, "w") as f:
            f.write(text)
        with open(os.path.join(work, "specs", f"{n}.json"), "w") as f:
            json.dump(s, f, indent=1)
        ok, t = check_advcc(s, path, os.path.join(work, "advcc", n), tools)
        out[n] = {"steps": {"a": (ok, t)}}
        if ok and gen.expected(s) is None:
            accepted.append(s)
    built = write_build(work, [s["name"] for s in accepted], tools) if accepted else {}
    linked = []
    for s in accepted:
        out[s["name"]]["steps"]["cc"] = built[s["name"]]
        if built[s["name"]][0]:
            linked.append(s)
    for n, r in run_gradcheck(work, linked).items():
        out[n]["steps"]["fd"] = r
    for n, r in run_oracle(work, linked, batch).items():
        out[n]["steps"][r[2]] = r[:2]
        if r[2] == "dump":
            out[n]["steps"]["oracle"] = (None, "no dump")
    for n, o in out.items():
        o["status"] = next((k for k in ORDER if k in o["steps"] and o["steps"][k][0] is False),
                           None)
    return out


def shrink_candidates(spec):
    """Smaller variants: one statement dropped, one layer dropped, a name
    or an optional parameter dropped."""
    for i in range(len(spec["patches"])):
        c = specgen_twin.clone_spec(spec)
        del c["patches"][i]
        yield c
    for i in range(len(spec["layers"])):
        c = specgen_twin.clone_spec(spec)
        del c["layers"][i]
        yield c
    for i, l in enumerate(spec["layers"]):
        for key in ("name", "stride", "pad", "bias", "bits", "levels", "lo", "hi"):
            if key in l:
                c = specgen_twin.clone_spec(spec)
                del c["layers"][i][key]
                yield c
    if spec.get("style") == "patch":
        c = specgen_twin.clone_spec(spec)
        c["style"] = "inline"
        yield c
    if spec.get("chain") != "lines":
        c = specgen_twin.clone_spec(spec)
        c["chain"] = "lines"
        yield c


def shrink(spec, status, work, tools, budget):
    """The smallest variant found that fails at the same step."""
    t0 = time.time()
    best, tries = spec, 0
    progress = True
    while progress and time.time() - t0 < budget:
        progress = False
        for c in shrink_candidates(best):
            if time.time() - t0 >= budget:
                break
            if status != "a":
                # a failure past advcc is shrunk among valid specs only
                try:
                    specgen_twin.validate(c)
                except specgen_twin.SpecError:
                    continue
                c.pop("fault", None)
            tries += 1
            r = run_cases([c], work, tools)[c["name"]]
            if r["status"] == status or r["steps"].get(status, (True,))[0] is False:
                best, progress = c, True
                break
    return best, tries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", type=int, default=0, help="index of the first case")
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=50,
                    help="cases linked into one dumper at a time")
    ap.add_argument("--cases", nargs="*", help="JSON cases (fixtures) instead of generated ones")
    ap.add_argument("--also", nargs="*", help="JSON cases (fixtures) run with the first chunk")
    ap.add_argument("--no-flat-bn", action="store_true",
                    help="no batchnorm of a flat input (a known defect; see fuzz.mk)")
    ap.add_argument("--work", default="build/specgen")
    ap.add_argument("--found", default=None, help="where shrunk failing cases go")
    ap.add_argument("--shrink-budget", type=float, default=300, help="seconds per failing case")
    ap.add_argument("--shrink-step", choices=ORDER,
                    help="shrink on this step's failure (default: the first failing step)")
    ap.add_argument("--shrink-max", type=int, default=10, help="failing cases shrunk at most")
    ap.add_argument("--advcc", default="build/advcc")
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--cflags", default="")
    ap.add_argument("--runtime64", default="build/lib/libadvcc64.a")
    ap.add_argument("--ldlibs", default="-lopenblas -lgsl -lz -lm")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    tools = Tools(args)
    import torch
    torch.set_num_threads(1)

    fixtures = []
    for p in (args.cases or []) + (args.also or []):
        with open(p) as f:
            fixtures.append(json.load(f))
    if args.cases is not None:
        chunks = [fixtures]
    else:
        idx = list(range(args.first, args.first + args.count))
        chunks = [idx[i:i + args.batch_size] for i in range(0, len(idx), args.batch_size)]
    passed = failed = excused = 0
    res_steps = {}
    found = []
    t0 = time.time()
    for ci, chunk in enumerate(chunks):
        if args.cases is None:
            cases = [gen.make_case(args.seed, i, flat_bn=not args.no_flat_bn) for i in chunk]
            if ci == 0:
                # a kept fixture may come from this very seed: the model
                # names must differ for the one link
                names = {c["name"] for c in cases}
                for f in fixtures:
                    if f["name"] in names:
                        f["name"] += "_found"
                cases += fixtures
        else:
            cases = chunk
        work = os.path.join(args.work, f"run{ci}")
        res = run_cases(cases, work, tools)
        res_steps.update({n: r["steps"] for n, r in res.items()})
        for s in cases:
            r = res[s["name"]]
            steps = r["steps"]
            summary = " ".join(f"{k}:{'ok' if v[0] else 'n/a' if v[0] is None else 'FAIL'}"
                               for k, v in steps.items())
            what = "rejected" if gen.expected(s) is not None else "accepted"
            kn = known(s) if r["status"] else None
            print(f"{'ok  ' if r['status'] is None else 'FAIL'} {s['name']:<14} {what:<8} {summary}"
                  + (f"  ({kn})" if kn else ""))
            if r["status"] is None:
                passed += 1
                if steps.get("oracle", (True,))[0] is None and "excused" in steps["oracle"][1]:
                    excused += 1
                    print("    " + steps["oracle"][1].replace("\n", "\n    "))
                if args.verbose:
                    for k, v in steps.items():
                        print(f"    {k}: {v[1].splitlines()[0] if v[1] else ''}")
                continue
            failed += 1
            for k, v in steps.items():
                if v[0] is False:
                    print("    " + v[1].replace("\n", "\n    "))
            found.append((s, r["status"], kn))
        sys.stdout.flush()
    print(f"specgen: {passed + failed} cases in {time.time() - t0:.0f} s; {excused} of the passed "
          f"had their oracle excused (degenerate batchnorm or kink ties)")
    if args.found and found:
        os.makedirs(args.found, exist_ok=True)
        seen = set()
        for s, status, kn in found:
            if args.shrink_step and s["name"] in res_steps and \
                    res_steps[s["name"]].get(args.shrink_step, (True,))[0] is False:
                status = args.shrink_step
            # one case shrunk per known defect and failing step
            if (status, kn) in seen and kn or len(seen) >= args.shrink_max:
                continue
            seen.add((status, kn))
            small, tries = shrink(s, status, os.path.join(args.work, "shrink"), tools,
                                  args.shrink_budget)
            n = small["name"]
            with open(os.path.join(args.found, f"{n}.net"), "w") as f:
                f.write(gen.render(small))
            with open(os.path.join(args.found, f"{n}.json"), "w") as f:
                json.dump(small, f, indent=1)
            print(f"shrunk {n} ({status}) in {tries} tries: {len(s['layers'])} -> "
                  f"{len(small['layers'])} layers, {len(s['patches'])} -> "
                  f"{len(small['patches'])} statements: {args.found}/{n}.net")
            print("    " + gen.render(small).replace("\n", "\n    "))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
