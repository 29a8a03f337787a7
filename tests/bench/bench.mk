# make bench: the model binaries and their PyTorch twins (advcc --torch),
# each command a process of its own, alternated round by round, with the
# OpenBLAS sgemm limit measured in the same run (tests/bench/bench_procs.py).
#   make bench BENCH_ARGS="--rounds 9 --threads 2,1 --json bench.json"
#   make bench-smoke    one small round, then checks the JSON's shape
BENCH_PYTHON ?= /usr/bin/python3
BENCH_ARGS   ?=
BENCH_SGEMM  := $(BUILD)/bench/sgemm_limit
BENCH_RUN     = $(BENCH_PYTHON) tests/bench/bench_procs.py --bin $(BUILD)/bin \
                --generated generated --sgemm $(BENCH_SGEMM) --python $(BENCH_PYTHON)

.PHONY: bench bench-smoke

$(BENCH_SGEMM): tests/bench/sgemm_limit.c | $(BUILD)/bench
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@
$(BUILD)/bench:
	mkdir -p $@

bench: models $(BENCH_SGEMM)
	$(BENCH_RUN) $(BENCH_ARGS)

# About a minute on two quiet cores.  Asserts no speed: only that every
# measure is there with positive numbers and that both sides computed the
# same network (FLOP count, clean accuracy).
bench-smoke: models $(BENCH_SGEMM)
	$(BENCH_RUN) --quick --json $(BUILD)/bench/smoke.json $(BENCH_ARGS)
	$(BENCH_PYTHON) tests/bench/check_bench.py $(BUILD)/bench/smoke.json
