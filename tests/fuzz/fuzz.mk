# libFuzzer targets (clang, ASan + UBSan) for the readers of hostile input:
# advcc's front end, the CIFAR-10 and IDX loaders, the safetensors and .npy
# readers and the grid parser.  Not part of `make check`.
#   make fuzz FUZZ_SECONDS=60          every target for N seconds each
#   make fuzz FUZZ_TARGETS="npy grid"  some of them
# Each target starts from tests/fuzz/corpus/<target>/ with the dictionary
# tests/fuzz/<target>.dict; first it replays tests/fuzz/crashes/<target>/
# (inputs that once crashed, kept as fixtures).  New crashes are written to
# $(BUILD)/fuzz/crash-<target>-*; the growing corpus to $(BUILD)/fuzz/corpus/.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= advcc cifar10 idx safetensors npy grid
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
                -Iruntime -Icompiler -Iruntime/study -I$(BUILD)/compiler -D_GNU_SOURCE

FUZZ_SRC_advcc       := $(COMPILER_SRC) $(COMPILER_RT_SRC)
FUZZ_GEN_advcc       := $(COMPILER_GEN)
FUZZ_SRC_cifar10     := runtime/dataset.c runtime/cifar10.c runtime/idx.c
FUZZ_SRC_idx         := $(FUZZ_SRC_cifar10)
FUZZ_SRC_safetensors := runtime/checkpoint.c runtime/atomic_file.c runtime/errorf.c
FUZZ_SRC_npy         := runtime/npy.c runtime/atomic_file.c
FUZZ_SRC_grid        := runtime/study/grid.c runtime/study/fsutil.c runtime/study/text.c \
                        runtime/study/model_desc.c runtime/study/json.c runtime/child.c \
                        runtime/atomic_file.c runtime/numparse.c

fuzz_objs = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRC_$(1)) tests/fuzz/fuzz_$(1).c) \
            $(patsubst %,$(FUZZ_DIR)/obj/gen/%.o,$(FUZZ_GEN_$(1)))
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_DIR)/obj/%.o: %.c $(BUILD)/compiler/parser.h $(BUILD)/compiler/lexer.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_DIR)/obj/gen/%.o: $(BUILD)/compiler/%.c $(BUILD)/compiler/parser.h $(BUILD)/compiler/lexer.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -c $< -o $@

.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: $$(call fuzz_objs,$$*)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -ljansson -lz -lm -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    bin=$(FUZZ_DIR)/fuzz_$$t; \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	    dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	    if [ -d tests/fuzz/crashes/$$t ] && [ -n "$$(ls tests/fuzz/crashes/$$t)" ]; then \
	        echo "== $$t: replaying tests/fuzz/crashes/$$t"; \
	        $$bin -runs=1 tests/fuzz/crashes/$$t/* 2>&1 | tail -n 1 || exit 1; \
	    fi; \
	    echo "== $$t: $(FUZZ_SECONDS) s"; \
	    $$bin $$dict -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
	        -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
	        $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t > $(FUZZ_DIR)/$$t.log 2>&1; \
	    rc=$$?; \
	    grep -E '^#[0-9]+.*(DONE|pulse|NEW)' $(FUZZ_DIR)/$$t.log | tail -n 1; \
	    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' $(FUZZ_DIR)/$$t.log; \
	    if [ $$rc != 0 ]; then echo "$$t: crash, see $(FUZZ_DIR)/$$t.log"; exit 1; fi; \
	done
.PHONY: fuzz fuzz-build
