# make bench: generated code against PyTorch, timed in one process.
# Each model in BENCH_MODELS is built, with the runtime, into a shared library
# ($(BUILD)/pic/libbench_<model>.so, position-independent objects of its own)
# that tests/bench/bench.py loads through ctypes next to PyTorch, so that the
# two are timed interleaved on the same noisy machine.
#   make bench BENCH_ARGS="--rounds 11 --seconds 2"
BENCH_PYTHON  ?= /usr/bin/python3
# Deferred: MODELS comes from generated/models.mk, read after this file.
BENCH_MODELS  ?= $(filter baseline,$(MODELS))
BENCH_ARGS    ?=
BENCH_PIC_OBJ := $(patsubst runtime/%.c,$(BUILD)/pic/runtime/%.o,$(RUNTIME_SRC))
BENCH_LIBS     = $(patsubst %,$(BUILD)/pic/libbench_%.so,$(BENCH_MODELS))

.PHONY: bench
# Keep the objects: make would delete them as intermediates of the pattern
# rules and rebuild the runtime on every run.
.PRECIOUS: $(BUILD)/pic/%.o

$(BUILD)/pic/runtime/%.o: runtime/%.c | $(BUILD)/pic/runtime
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -c $< -o $@
$(BUILD)/pic/gen/%.o: generated/%.c runtime/model.h runtime/kernels.h | $(BUILD)/pic/gen
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -c $< -o $@
$(BUILD)/pic/bench_api_%.o: tests/bench/bench_api.c | $(BUILD)/pic
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -DADVCC_MODEL=advcc_model_$* -c $< -o $@
# -Bsymbolic: the library's own kernels (gemm, im2col, ...) must not be
# interposed by same-named symbols of libraries PyTorch has loaded.
$(BUILD)/pic/libbench_%.so: $(BUILD)/pic/bench_api_%.o $(BUILD)/pic/gen/%.o $(BENCH_PIC_OBJ)
	$(CC) -shared -Wl,-Bsymbolic $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/pic $(BUILD)/pic/runtime $(BUILD)/pic/gen:
	mkdir -p $@

# The model list is only known once every makefile is read, so the
# libraries are built by a sub-make from the recipe.
bench:
	@test -n "$(BENCH_MODELS)" || { echo "bench: no model to time"; exit 1; }
	@$(MAKE) --no-print-directory $(BENCH_LIBS)
	@for m in $(BENCH_MODELS); do \
	    $(BENCH_PYTHON) tests/bench/bench.py --lib $(BUILD)/pic/libbench_$$m.so \
	        --model $$m $(BENCH_ARGS) || exit 1; \
	done
