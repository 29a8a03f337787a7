# The study tool, advcc-study: grids of experiments run locally or as a
# Slurm job array, paired t-tests (GSL), figures (gnuplot) and a report.
# It runs the model binaries as processes and shares with the runtime only
# its atomic files, .npy reader, strict number reader, vocabulary, mkdir -p,
# durations, child processes and error formatting.  JSON through Jansson.
#   make check-study    the study's tests (CMocka, the resume and Slurm tests)
STUDY_SRC         := $(filter-out runtime/study/main.c,$(wildcard runtime/study/*.c))
STUDY_OBJ         := $(patsubst runtime/study/%.c,$(BUILD)/study/%.o,$(STUDY_SRC))
STUDY_LIB         := $(BUILD)/lib/libadvcc_study.a
STUDY_RUNTIME_OBJ := $(BUILD)/runtime/atomic_file.o $(BUILD)/runtime/npy.o \
                     $(BUILD)/runtime/numparse.o $(BUILD)/runtime/vocab.o \
                     $(BUILD)/runtime/mkdirs.o $(BUILD)/runtime/duration.o \
                     $(BUILD)/runtime/child.o $(BUILD)/runtime/errorf.o
STUDY_LDLIBS      := -lgsl -lopenblas -ljansson -lm
STUDY_BIN         := $(BUILD)/bin/advcc-study
STUDY_BINS        += $(STUDY_BIN)
STUDY_FAKE        := $(BUILD)/tests/study/fake_model
STUDY_TEST_SRC    := $(wildcard tests/test_study_*.c)
STUDY_TEST_BINS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(STUDY_TEST_SRC))

.PHONY: check-study
all: $(STUDY_BINS)

$(BUILD)/study/%.o: runtime/study/%.c | $(BUILD)/study
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@
$(STUDY_LIB): $(STUDY_OBJ) | $(BUILD)/lib
	rm -f $@ && ar rcs $@ $^
$(STUDY_BIN): $(BUILD)/study/main.o $(STUDY_LIB) $(STUDY_RUNTIME_OBJ) | $(BUILD)/bin
	$(CC) $(LDFLAGS) $^ $(STUDY_LDLIBS) -o $@

# A stand-in for the model binaries, for the tests.
$(STUDY_FAKE): tests/study/fake_model.c $(STUDY_RUNTIME_OBJ) | $(BUILD)/tests/study
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $^ -ljansson -lm -o $@

# The study's tests link the study library, not only the runtime; this
# rule's stem is shorter than tests.mk's test_% so make prefers it.
$(BUILD)/tests/test_study_%: tests/test_study_%.c $(STUDY_LIB) $(STUDY_RUNTIME_OBJ) | $(BUILD)/tests/study $(STUDY_BIN) $(STUDY_FAKE)
	$(CC) $(CPPFLAGS) -Iruntime/study $(ALL_CFLAGS) -DSTUDY_BUILD='"$(BUILD)"' $(LDFLAGS) \
	    $< $(STUDY_LIB) $(STUDY_RUNTIME_OBJ) -lcmocka $(STUDY_LDLIBS) -o $@

check-study: $(STUDY_TEST_BINS) $(STUDY_BIN) $(STUDY_FAKE)
	@BUILD=$(BUILD) sh tests/study/run_tests.sh $(STUDY_TEST_BINS)

$(BUILD)/study $(BUILD)/tests/study:
	mkdir -p $@

# The single-node Slurm test as one of `make check`'s goals (the study's
# CMocka tests already run there with the others).
check-slurm: $(STUDY_BIN) $(STUDY_FAKE)
	@BUILD=$(BUILD) sh tests/study/slurm_test.sh
CHECK_GOALS += check-slurm
.PHONY: check-slurm
