"""check_bench.py - checks the JSON `make bench` wrote (bench_procs.py
--json): every measure at every thread count, both sides, positive rates,
shares, RSS and sgemm figures, every CIFAR-10 model with its twin's
ratios, and that advcc and PyTorch ran the same network on the same
images (clean accuracy of one checkpoint within 2 points).  Asserts no
speed.  Prints "N passed, N failed"; exit 1 on a failure.

Usage: /usr/bin/python3 tests/bench/check_bench.py FILE
"""
import json
import sys

SEED = ("train step", "eval", "adv step")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.rsplit("\n\n", 1)[1])
    with open(sys.argv[1]) as f:
        res = json.load(f)
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {what}")

    def positive(s):
        return isinstance(s, dict) and all(s.get(k, 0) > 0 for k in ("median", "q1", "q3"))

    steps = res["flops"]["attack_steps"]
    check(res["flops"]["forward"] > res["flops"]["first"] > 0, "FLOP counts")
    check(res.get("openblas_core", "unknown") not in ("", "unknown"), "OpenBLAS kernel named")
    for t in res["threads"]:
        check(positive(res["sgemm"].get(str(t))), f"sgemm at {t} threads")
        rows = res["seed"].get(str(t), {})
        for name in SEED + (f"pgd-{steps}",):
            row = rows.get(name)
            check(row is not None, f"{name} at {t} threads present")
            if row is None:
                continue
            for side in ("advcc", "torch"):
                for k in ("img_s", "share", "rss_mib"):
                    check(positive(row[side][k]), f"{name} {side} {k} at {t} threads")
            check(positive(row["ratio"]), f"{name} ratio at {t} threads")
            if "clean_acc" in row["advcc"] or "clean_acc" in row["torch"]:
                a, b = row["advcc"].get("clean_acc"), row["torch"].get("clean_acc")
                check(a is not None and b is not None and abs(a - b) <= 0.02,
                      f"{name} at {t} threads: clean accuracy advcc {a} PyTorch {b}")
    models = res["models"]
    check("baseline" in models and "adv" in models, "baseline and adv timed")
    for m, e in models.items():
        for command in ("train", "attack"):
            check(positive(e[command]["img_s"]) and positive(e[command]["rss_mib"]),
                  f"{m} {command} rate and RSS")
            if e["twin"] and e["twin"] != m:
                check(positive(e[command].get("vs_twin")), f"{m} {command} against {e['twin']}")
    for m in ("quant", "reg", "quant_reg", "rse"):
        if m in models:
            check(models[m]["twin"] == "baseline", f"{m}'s twin is baseline")
    for m in ("quant_adv", "adv_reg", "quant_adv_reg"):
        if m in models:
            check(models[m]["twin"] == "adv", f"{m}'s twin is adv")
    print(f"bench json: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
