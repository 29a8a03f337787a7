# The PyTorch reference check of generated models (tests/oracle/oracle.py).
#   make check-oracle     dump one training step and two PGD attacks of each
#                         model in ORACLE_MODELS that advcc emitted, and
#                         compare them with PyTorch
# Images: the first CIFAR-10 test images when $CIFAR10_DIR is set, otherwise
# random pixels from the seed.  ORACLE_PYTHON must be the interpreter that
# has Debian's python3-torch.
ORACLE_PYTHON ?= /usr/bin/python3
ORACLE_SEED   ?= 1
# Models with a PyTorch definition in tests/oracle/torch_models.py: of
# specs/, and of the test specs (tests/specs/leaky.net: leaky ReLU; the
# training recipes of tests/specs/recipes.net; smooth.net: tanh and the
# sigmoid; gap.net: global average pooling; dropout.net: dropout, its masks
# replayed; rect.net: rectangular kernels, strides and paddings; residual.net:
# a small ResNet, identity and projection shortcuts).
ORACLE_TEST_KNOWN := leaky recipe_adam recipe_nesterov recipe_adamw recipe_cosine smooth gap_cnn \
                     dropout_cnn rect_cnn resnet_oracle
ORACLE_KNOWN  := baseline adv fashion quant reg quant_reg rse mlp_bn adv_reg quant_adv \
                 quant_adv_reg $(ORACLE_TEST_KNOWN)
# Deferred: MODELS comes from generated/models.mk, TESTGEN_MODELS from
# $(BUILD)/testgen/testgen.mk, both read after this file.
ORACLE_MODELS ?= $(filter $(ORACLE_KNOWN),$(MODELS) $(TESTGEN_MODELS))
# These are dumped by a double-precision build (real_t = double, the double
# runtime): their forward rounds activations onto a grid, and float32
# arithmetic puts a few values on the other side of a rounding tie from any
# float64 reference, each flip a whole grid step that every later layer
# carries (dump_model.c).  The float32 build of the same code is checked
# everywhere else.
ORACLE_DOUBLE ?= quant quant_reg quant_adv quant_adv_reg
# Every model at batch 8; these also at the training batch, 100.
ORACLE_FULL   ?= $(filter baseline,$(ORACLE_MODELS))
# Optimiser steps dumped (each at its schedule's rate, one step an epoch):
# the recipes take three, so that momentum, Adam's moments and the
# schedules move twice from their first values.
ORACLE_STEPS_recipe_adam     ?= --steps 3
ORACLE_STEPS_recipe_nesterov ?= --steps 3
ORACLE_STEPS_recipe_adamw    ?= --steps 3
ORACLE_STEPS_recipe_cosine   ?= --steps 3
# Starting values some models are dumped with (dump_model --fill): quant
# starts as trained, DTReLU bounds [0, 6], where nothing reaches 6 and the
# grid starts at 0; quant_reg starts at [-0.5, 1], so that both bounds clip
# and the grid is offset.
ORACLE_FILL_quant_reg ?= --fill .lo=-0.5 --fill .hi=1

oracle_dumper  = $(BUILD)/oracle/$(if $(filter $1,$(ORACLE_DOUBLE)),dump64_,dump_)$1
ORACLE_DUMPS   = $(foreach m,$(ORACLE_MODELS),$(call oracle_dumper,$m))
# Threads that wait for work sleep rather than spin: on a loaded machine
# spinning made each dump eight times slower.
ORACLE_ENV    := OMP_WAIT_POLICY=passive

CHECK_GOALS += check-oracle
.PHONY: check-oracle
.PRECIOUS: $(BUILD)/oracle/%.o $(BUILD)/gen/%.o $(BUILD)/gen64/%.o $(BUILD)/testgen/%.o \
    $(BUILD)/testgen64/%.o

$(BUILD)/oracle/dump_%.o: tests/oracle/dump_model.c | $(BUILD)/oracle
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/oracle/dump_%: $(BUILD)/oracle/dump_%.o $(BUILD)/gen/%.o $(RUNTIME_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME_LIB) $(LDLIBS) -o $@
# Test models link their object from the test specs' build.
$(patsubst %,$(BUILD)/oracle/dump_%,$(ORACLE_TEST_KNOWN)): $(BUILD)/oracle/dump_%: \
        $(BUILD)/oracle/dump_%.o $(BUILD)/testgen/%.o $(RUNTIME_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME_LIB) $(LDLIBS) -o $@
$(BUILD)/oracle/dump64_%.o: tests/oracle/dump_model.c | $(BUILD)/oracle
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_DOUBLE -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/oracle/dump64_%: $(BUILD)/oracle/dump64_%.o $(BUILD)/gen64/%.o $(RUNTIME64_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME64_LIB) $(LDLIBS) -o $@
$(BUILD)/oracle/dump64_%: $(BUILD)/oracle/dump64_%.o $(BUILD)/testgen64/%.o $(RUNTIME64_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME64_LIB) $(LDLIBS) -o $@

$(BUILD)/oracle:
	mkdir -p $@

# The model list is only known once every makefile is read, so the dumpers
# are built by a sub-make from the recipe.  The dumps are rewritten on every
# run (emptied first: which files exist says what the model has): they take
# a second and depend on the data in the environment.
check-oracle:
	@test -n "$(ORACLE_MODELS)" || { echo "check-oracle: no model to check (run make first)"; exit 1; }
	@$(MAKE) --no-print-directory $(ORACLE_DUMPS)
	@set -e; $(foreach m,$(ORACLE_MODELS),\
	    mkdir -p $(BUILD)/oracle/$m && rm -f $(BUILD)/oracle/$m/*; \
	    $(ORACLE_ENV) $(call oracle_dumper,$m) --seed $(ORACLE_SEED) --batch 8 $(ORACLE_FILL_$m) \
	        $(ORACLE_STEPS_$m) --out $(BUILD)/oracle/$m;) \
	$(foreach m,$(ORACLE_FULL),\
	    mkdir -p $(BUILD)/oracle/$m-100 && rm -f $(BUILD)/oracle/$m-100/*; \
	    $(ORACLE_ENV) $(call oracle_dumper,$m) --seed $(ORACLE_SEED) --batch 100 $(ORACLE_FILL_$m) \
	        --out $(BUILD)/oracle/$m-100;) true
	@$(ORACLE_ENV) $(ORACLE_PYTHON) tests/oracle/oracle.py $(patsubst %,$(BUILD)/oracle/%,$(ORACLE_MODELS)) \
	    $(patsubst %,$(BUILD)/oracle/%-100,$(ORACLE_FULL))

# Mutation tests of the oracle itself (tests/oracle/mutants.sh): dumpers
# built with one deliberate error each must make the oracle fail.
CHECK_GOALS += check-mutants
.PHONY: check-mutants
check-mutants:
	@$(MAKE) --no-print-directory $(call oracle_dumper,baseline) $(call oracle_dumper,quant) \
	    $(BUILD)/gen/baseline.o $(BUILD)/gen64/quant.o \
	    $(call oracle_dumper,recipe_adam) $(call oracle_dumper,recipe_nesterov)
	@BUILD=$(BUILD) CC="$(CC)" CFLAGS="$(CPPFLAGS) $(ALL_CFLAGS)" LDFLAGS="$(LDFLAGS)" \
	    LDLIBS="$(LDLIBS)" RUNTIME_LIB=$(RUNTIME_LIB) RUNTIME64_LIB=$(RUNTIME64_LIB) \
	    ORACLE_PYTHON=$(ORACLE_PYTHON) ORACLE_SEED=$(ORACLE_SEED) sh tests/oracle/mutants.sh
