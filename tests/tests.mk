# Tests.  tests/test_*.c: CMocka binaries against the float runtime and the
# compiler; tests/test64_*.c: against the double runtime (-DADVCC_DOUBLE).
# tests/run.sh runs them all, then the shell and Python tests, and prints
# the summary line.
TEST_SRC    := $(wildcard tests/test_*.c)
TEST64_SRC  := $(wildcard tests/test64_*.c)
TEST_BINS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC) $(TEST64_SRC))
TEST_LIBS   := -lcmocka -llapacke $(LDLIBS)

$(BUILD)/tests/test_%: tests/test_%.c $(COMPILER_LIB) $(RUNTIME_LIB) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< $(COMPILER_LIB) $(RUNTIME_LIB) $(TEST_LIBS) -o $@
$(BUILD)/tests/test64_%: tests/test64_%.c $(RUNTIME64_LIB) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_DOUBLE $(LDFLAGS) $< $(RUNTIME64_LIB) $(TEST_LIBS) -o $@

$(BUILD)/tests:
	mkdir -p $@

# The CPU and the OpenBLAS kernel in use, printed at the top of CI's log.
$(BUILD)/tests/blas_core: tests/blas_core.c | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@


# Tests and benchmarks that link a generated model.
-include tests/oracle/oracle.mk
-include tests/specgen/specgen.mk
-include tests/bench/bench.mk

# Tests that link generated models: tests/model_*.c (float) and
# tests/model64_*.c (double) link every model of specs/ and of the test
# specs in tests/specs/, compiled by advcc into $(BUILD)/testgen.
# TESTGEN_MODELS is the list advcc writes there (models.mk's MODELS, under
# a name of its own in testgen.mk); make builds testgen.mk first and
# restarts, so a clean build knows the list before it needs it.
TESTGEN        := $(BUILD)/testgen
TESTGEN_SPECS  := $(wildcard tests/specs/*.net)
MODEL_TEST_SRC := $(wildcard tests/model_*.c)
MODEL64_TEST_SRC := $(wildcard tests/model64_*.c)
MODEL_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(MODEL_TEST_SRC) $(MODEL64_TEST_SRC))
TEST_BINS      += $(MODEL_TEST_BINS)
GEN_OBJS       = $(patsubst %,$(BUILD)/gen/%.o,$(MODELS)) $(patsubst %,$(BUILD)/testgen/%.o,$(TESTGEN_MODELS))
GEN64_OBJS     = $(patsubst %,$(BUILD)/gen64/%.o,$(MODELS)) $(patsubst %,$(BUILD)/testgen64/%.o,$(TESTGEN_MODELS))

$(TESTGEN)/models.mk: $(ADVCC) $(TESTGEN_SPECS)
	mkdir -p $(TESTGEN)
	$(ADVCC) -q --torch $(TESTGEN_SPECS) -o $(TESTGEN)/
$(TESTGEN)/testgen.mk: $(TESTGEN)/models.mk
	sed -n 's/^MODELS := /TESTGEN_MODELS := /p' $< > $@.tmp && mv $@.tmp $@
ifeq ($(filter $(TOOLLESS_GOALS),$(MAKECMDGOALS)),)
-include $(TESTGEN)/testgen.mk
endif
$(patsubst %,$(TESTGEN)/%.c,$(TESTGEN_MODELS)): $(TESTGEN)/models.mk ;
$(BUILD)/testgen/%.o: $(TESTGEN)/%.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@
$(BUILD)/testgen64/%.o: $(TESTGEN)/%.c | $(BUILD)/testgen64
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_DOUBLE -c $< -o $@
$(BUILD)/testgen64:
	mkdir -p $@

$(BUILD)/tests/model_%: tests/model_%.c $(GEN_OBJS) $(RUNTIME_LIB) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< $(GEN_OBJS) $(RUNTIME_LIB) $(TEST_LIBS) -o $@
$(BUILD)/tests/model64_%: tests/model64_%.c $(GEN64_OBJS) $(RUNTIME64_LIB) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_DOUBLE $(LDFLAGS) $< $(GEN64_OBJS) $(RUNTIME64_LIB) $(TEST_LIBS) -o $@

# Fragments add make goals that print "N passed, N failed" to CHECK_GOALS.
check: all $(TEST_BINS)
	@BUILD=$(BUILD) EXTRA_GOALS="$(CHECK_GOALS)" sh tests/run.sh

# The unit tests again under AddressSanitizer (leaks included) and UBSan,
# in build-san/.  Scripts and oracles are left to `make check`.
check-san:
	@$(MAKE) --no-print-directory SAN=1 san-units
san-units: $(TEST_BINS)
	@BUILD=$(BUILD) UNITS_ONLY=1 ASAN_OPTIONS=detect_leaks=1 sh tests/run.sh
.PHONY: check-san san-units

# The unit tests under valgrind's memcheck: a memory error or a definite
# leak fails the test.  The five whose sizes make memcheck take minutes
# each are left to check-san unless VALGRIND_ALL=1.
VALGRIND      := valgrind -q --leak-check=full --show-leak-kinds=definite \
                 --errors-for-leak-kinds=definite --error-exitcode=99
VALGRIND_SLOW := test_kernels_float model_defences model64_defences model64_gradcheck \
                 model_certify
check-valgrind: $(TEST_BINS)
	@BUILD=$(BUILD) UNITS_ONLY=1 OMP_WAIT_POLICY=passive RUNNER="$(VALGRIND)" \
	    SKIP_UNITS="$(if $(VALGRIND_ALL),,$(VALGRIND_SLOW))" sh tests/run.sh
.PHONY: check-valgrind

-include tests/torchio/torchio.mk
