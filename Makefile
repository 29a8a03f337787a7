# advcc - compile model specs into native training/attack binaries.
#   make            the compiler, generated/ from specs/*.net, one binary per model
#   make check      every test (SAN=1: under ASan and UBSan, in build-san/)
#   make bench      the model binaries against their PyTorch twins, each a
#                   process of its own, with the sgemm limit (bench-smoke: a
#                   one-minute smoke run)
#   make data       download and check the official CIFAR-10 archive into data/
#   make NATIVE=1   tune for this CPU (portable code is the default)
#   make install    advcc, advcc-study, the runtime, its headers, advcc.pc and
#                   man pages under PREFIX (/usr/local), staged in DESTDIR
#   make uninstall  removes exactly what install put there

MAKEFLAGS += --no-builtin-rules
.SUFFIXES:
# Keep intermediate objects (generated C, PIC objects) between runs.
.SECONDARY:
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror
BUILD    ?= build
ifeq ($(SAN),1)
BUILD    := build-san
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(NATIVE),1)
CFLAGS   += -march=native
endif
CPPFLAGS += -Iruntime -Icompiler -I$(BUILD)/compiler -D_GNU_SOURCE
ALL_CFLAGS = $(WARN) $(CFLAGS) -fopenmp -MMD -MP
# OpenBLAS built on OpenMP shares one thread pool with the runtime's OpenMP
# loops; the pthread build would spin a second pool against it.
OPENBLAS_OMP := $(firstword $(wildcard /usr/lib/*/openblas-openmp/libopenblas.so.0))
ifneq ($(OPENBLAS_OMP),)
BLAS_LIBS := $(OPENBLAS_OMP) -Wl,-rpath,$(dir $(OPENBLAS_OMP))
else
BLAS_LIBS := -lopenblas
endif
# Jansson reads and writes every JSON file: safetensors headers, results.
JANSSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
CPPFLAGS += $(shell pkg-config --cflags jansson 2>/dev/null)
# GSL after OpenBLAS: libgsl brings its own cblas, which must not win.
LDLIBS   := $(BLAS_LIBS) $(JANSSON_LIBS) -lgsl -lz -lm
LDFLAGS  += -fopenmp

SPECS    := $(wildcard specs/*.net)
ADVCC    := $(BUILD)/advcc

.PHONY: all models check bench data clean deps quickstart variant install uninstall

all: models

# generated/models.mk lists the models advcc emitted; make re-reads it
# (except for goals that must run before the tools exist).  tests/tests.mk
# reads the test models' list the same way.
TOOLLESS_GOALS := deps data clean quickstart install uninstall
generated/models.mk: $(ADVCC) $(SPECS)
	$(ADVCC) --torch $(SPECS) -o generated/
ifeq ($(filter $(TOOLLESS_GOALS),$(MAKECMDGOALS)),)
-include generated/models.mk
endif

include compiler/compiler.mk
include runtime/runtime.mk
include tests/tests.mk
-include runtime/study/study.mk
-include tests/fuzz/fuzz.mk


MODEL_BINS := $(patsubst %,$(BUILD)/bin/%,$(MODELS))
models: generated/models.mk $(MODEL_BINS) $(STUDY_BINS)

$(patsubst %,generated/%.c,$(MODELS)): generated/models.mk ;
$(BUILD)/gen/%.o: generated/%.c runtime/model.h runtime/kernels.h | $(BUILD)/gen
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@
$(BUILD)/gen64/%.o: generated/%.c runtime/model.h runtime/kernels.h | $(BUILD)/gen64
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_DOUBLE -c $< -o $@
$(BUILD)/gen/main_%.o: runtime/main.c | $(BUILD)/gen
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/bin/%: $(BUILD)/gen/%.o $(BUILD)/gen/main_%.o $(RUNTIME_LIB) | $(BUILD)/bin
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME_LIB) $(LDLIBS) -o $@

$(BUILD)/gen $(BUILD)/gen64 $(BUILD)/bin:
	mkdir -p $@

data:
	@sh runtime/fetch_cifar10.sh data

deps:
	sh examples/quickstart/install-deps.sh

# make variant SPEC=file.net: compile a spec kept outside specs/ and build
# one binary per model it defines, in $(BUILD)/variants/.
variant: $(ADVCC) $(RUNTIME_LIB)
	@test -n "$(SPEC)" || { echo "usage: make variant SPEC=path/to/file.net" >&2; exit 2; }
	@mkdir -p $(BUILD)/variants
	$(ADVCC) $(SPEC) -o $(BUILD)/variants/
	@for m in $$(sed -n 's/^MODELS := //p' $(BUILD)/variants/models.mk); do \
	    echo "cc $(BUILD)/variants/$$m.c -> $(BUILD)/variants/$$m"; \
	    $(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -DADVCC_MODEL=advcc_model_$$m \
	        $(BUILD)/variants/$$m.c runtime/main.c $(RUNTIME_LIB) $(LDLIBS) \
	        -o $(BUILD)/variants/$$m || exit 1; \
	done

# The main job: build, train the seed CNN briefly, print its test accuracy.
quickstart:
	sh examples/quickstart/run.sh

# Installation.  Generated models need the runtime's headers, libadvcc.a and
# runtime/main.c (compiled with -DADVCC_MODEL=advcc_model_<name>); advcc.pc
# gives the flags and, as the variable `main`, where main.c is.
PREFIX     ?= /usr/local
DESTDIR    ?=
bindir     := $(PREFIX)/bin
libdir     := $(PREFIX)/lib
includedir := $(PREFIX)/include
datadir    := $(PREFIX)/share
mandir     := $(datadir)/man
VERSION    := $(shell sed -n 's/^\#define ADVCC_VERSION_NUMBER "\(.*\)"/\1/p' runtime/vocab.h)
INSTALL_HEADERS := $(wildcard runtime/*.h)
MAN_PAGES  := $(BUILD)/man/advcc.1 $(BUILD)/man/advcc-study.1
INSTALLED  := $(bindir)/advcc $(bindir)/advcc-study $(libdir)/libadvcc.a \
              $(libdir)/pkgconfig/advcc.pc $(datadir)/advcc/main.c \
              $(patsubst runtime/%,$(includedir)/advcc/%,$(INSTALL_HEADERS)) \
              $(mandir)/man1/advcc.1 $(mandir)/man1/advcc-study.1

$(BUILD)/man:
	mkdir -p $@
# help2man (Debian's help2man) turns --help and --version into the pages.
$(BUILD)/man/advcc.1: $(ADVCC) compiler/advcc.h2m | $(BUILD)/man
	help2man -N -n "compile adversarial-robustness model specs into C" \
	    -i compiler/advcc.h2m -o $@ $(ADVCC)
$(BUILD)/man/advcc-study.1: $(STUDY_BIN) | $(BUILD)/man
	help2man -N -n "run grids of advcc model experiments and report on them" -o $@ $(STUDY_BIN)
# advcc.pc is written at install time, for the PREFIX of that install.
ADVCC_PC_LINES := 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' \
    'libdir=$${exec_prefix}/lib' 'includedir=$${prefix}/include' \
    'datadir=$${prefix}/share' 'main=$${datadir}/advcc/main.c' '' \
    'Name: advcc' \
    'Description: runtime of the model binaries advcc compiles (link with $${main} and -DADVCC_MODEL=advcc_model_NAME)' \
    'Version: $(VERSION)' \
    'Cflags: -I$${includedir}/advcc -fopenmp' \
    'Libs: -L$${libdir} -ladvcc $(BLAS_LIBS) $(JANSSON_LIBS) -lgsl -fopenmp -lz -lm'

install: $(ADVCC) $(STUDY_BIN) $(RUNTIME_LIB) $(MAN_PAGES)
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(libdir)/pkgconfig \
	    $(DESTDIR)$(includedir)/advcc $(DESTDIR)$(datadir)/advcc $(DESTDIR)$(mandir)/man1
	install -m 755 $(ADVCC) $(STUDY_BIN) $(DESTDIR)$(bindir)/
	install -m 644 $(RUNTIME_LIB) $(DESTDIR)$(libdir)/
	printf '%s\n' $(ADVCC_PC_LINES) > $(DESTDIR)$(libdir)/pkgconfig/advcc.pc
	chmod 644 $(DESTDIR)$(libdir)/pkgconfig/advcc.pc
	install -m 644 $(INSTALL_HEADERS) $(DESTDIR)$(includedir)/advcc/
	install -m 644 runtime/main.c $(DESTDIR)$(datadir)/advcc/
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(mandir)/man1/

# Removes the installed files and the directories install made for advcc
# alone (include/advcc, share/advcc); shared directories stay.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir $(DESTDIR)$(includedir)/advcc $(DESTDIR)$(datadir)/advcc 2>/dev/null || true

clean:
	rm -rf build build-san generated/*.c generated/*.h generated/*.py generated/models.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# `make print-VAR` shows a variable (used by tests that build by hand).
print-%:
	@echo $($*)
