# The PyTorch reference check of generated models (tests/oracle/oracle.py).
#   make check-oracle     dump one training step and two PGD attacks of each
#                         model in ORACLE_MODELS that advcc emitted, and
#                         compare them with PyTorch
# Images: the first CIFAR-10 test images when $CIFAR10_DIR is set, otherwise
# random pixels from the seed.  ORACLE_PYTHON must be the interpreter that
# has Debian's python3-torch.
ORACLE_PYTHON ?= /usr/bin/python3
ORACLE_SEED   ?= 1
# Models with a PyTorch definition in tests/oracle/torch_models.py.
ORACLE_KNOWN  := baseline adv fashion
# Deferred: MODELS comes from generated/models.mk, read after this file.
ORACLE_MODELS ?= $(filter $(ORACLE_KNOWN),$(MODELS))
ORACLE_DUMPS   = $(patsubst %,$(BUILD)/oracle/dump_%,$(ORACLE_MODELS))
# Every model at batch 8; these also at the training batch, 100.
ORACLE_FULL   ?= $(filter baseline,$(ORACLE_MODELS))

CHECK_GOALS += check-oracle
.PHONY: check-oracle
.PRECIOUS: $(BUILD)/oracle/%.o

$(BUILD)/oracle/dump_%.o: tests/oracle/dump_model.c | $(BUILD)/oracle
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/oracle/dump_%: $(BUILD)/oracle/dump_%.o $(BUILD)/gen/%.o $(RUNTIME_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME_LIB) $(LDLIBS) -o $@

$(BUILD)/oracle:
	mkdir -p $@

# The model list is only known once every makefile is read, so the dumpers
# are built by a sub-make from the recipe.  The dumps are rewritten on every
# run: they take a second and depend on the data in the environment.
check-oracle:
	@test -n "$(ORACLE_MODELS)" || { echo "check-oracle: no model to check (run make first)"; exit 1; }
	@$(MAKE) --no-print-directory $(ORACLE_DUMPS)
	@set -e; for m in $(ORACLE_MODELS); do \
	    $(BUILD)/oracle/dump_$$m --seed $(ORACLE_SEED) --batch 8 --out $(BUILD)/oracle/$$m; \
	done; for m in $(ORACLE_FULL); do \
	    $(BUILD)/oracle/dump_$$m --seed $(ORACLE_SEED) --batch 100 --out $(BUILD)/oracle/$$m-100; \
	done
	@$(ORACLE_PYTHON) tests/oracle/oracle.py $(patsubst %,$(BUILD)/oracle/%,$(ORACLE_MODELS)) \
	    $(patsubst %,$(BUILD)/oracle/%-100,$(ORACLE_FULL))
