# The spec fuzzer (tests/specgen/specgen.py): random model specs from
# tests/specgen/gen.py, each compiled by advcc (or rejected at the right line),
# checked by finite differences on the double build and against a PyTorch
# twin built from the spec's own layer list (tests/oracle/specgen_twin.py).
#   make check-fuzz-sample   the fixed sample make check runs: seed 1, 50 specs,
#                            and the kept fixtures of tests/specgen/found/
#   make check-fuzz N=2000   N specs from SPECGEN_SEED; failing ones shrunk into
#                            $(BUILD)/specgen/found (copy them to
#                            tests/specgen/found/ to keep them)
#   make check-fuzz-found    the kept fixtures, tests/specgen/found/*.json
# Each prints "N passed, N failed" (specs).  SPECGEN_PYTHON must have Debian's
# python3-torch.
SPECGEN_PYTHON ?= /usr/bin/python3
SPECGEN_SEED   ?= 1
N           ?= 200
# --no-flat-bn leaves out batchnorm of a flat input (after flatten or
# linear), which was once computed wrongly (its data left channel-major
# before the next linear layer; tests/specgen/found/fz_2_15 is the shrunk
# case).  It is fixed, so the sample takes it.
SPECGEN_SAMPLE_FLAGS ?=
SPECGEN_FOUND := $(wildcard tests/specgen/found/*.json)
SPECGEN_TOOLS = --advcc $(ADVCC) --cc "$(CC)" \
    --cflags "$(CPPFLAGS) $(filter-out -MMD -MP,$(ALL_CFLAGS))" \
    --runtime64 $(RUNTIME64_LIB) --ldlibs "$(LDLIBS) $(LDFLAGS)"
SPECGEN_ENV   := OMP_WAIT_POLICY=passive

CHECK_GOALS += check-fuzz-sample
.PHONY: check-fuzz check-fuzz-sample check-fuzz-found

check-fuzz-sample: $(ADVCC) $(RUNTIME64_LIB)
	@$(SPECGEN_ENV) $(SPECGEN_PYTHON) tests/specgen/specgen.py $(SPECGEN_TOOLS) --seed 1 --count 50 \
	    $(SPECGEN_SAMPLE_FLAGS) --also $(SPECGEN_FOUND) --work $(BUILD)/specgen/sample
check-fuzz: $(ADVCC) $(RUNTIME64_LIB)
	@$(SPECGEN_ENV) $(SPECGEN_PYTHON) tests/specgen/specgen.py $(SPECGEN_TOOLS) --seed $(SPECGEN_SEED) \
	    --count $(N) $(SPECGEN_FLAGS) --work $(BUILD)/specgen/run --found $(BUILD)/specgen/found
check-fuzz-found: $(ADVCC) $(RUNTIME64_LIB)
	@$(SPECGEN_ENV) $(SPECGEN_PYTHON) tests/specgen/specgen.py $(SPECGEN_TOOLS) \
	    --cases $(SPECGEN_FOUND) --work $(BUILD)/specgen/found-run
