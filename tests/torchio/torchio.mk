# The PyTorch modules of the small models of tests/specs/ against their C
# (tests/t_torchio.sh, tests/torchio/compare_dumps.py): each model's C is
# run by the oracle's dumper (tests/oracle/dump_model.c), built here
# against $(BUILD)/testgen, where advcc also wrote the modules (--torch).
TORCHIO_DUMPS := $(patsubst %,$(BUILD)/torchio/dump_%,$(TESTGEN_MODELS))

.PRECIOUS: $(BUILD)/torchio/%.o

$(BUILD)/torchio/dump_%.o: tests/oracle/dump_model.c | $(BUILD)/torchio
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/torchio/dump_%: $(BUILD)/torchio/dump_%.o $(BUILD)/testgen/%.o $(RUNTIME_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME_LIB) $(LDLIBS) -o $@
$(BUILD)/torchio:
	mkdir -p $@

# The models of specs/ the same way: the float build for most, the double
# build for those with DTReLU (their forward rounds activations onto a
# grid, and float32 rounding puts a few inputs on the other side of a tie
# from any other implementation; the module then runs in float64).
TORCHIO_DOUBLE ?= quant quant_adv quant_reg quant_adv_reg
TORCHIO_SPEC_DUMPS = $(foreach m,$(MODELS),$(BUILD)/torchio/$(if $(filter $m,$(TORCHIO_DOUBLE)),spec64_,spec_)$m)
.PHONY: torchio-dumps
torchio-dumps: $(TORCHIO_DUMPS)
	@$(MAKE) --no-print-directory $(TORCHIO_SPEC_DUMPS)
check: torchio-dumps

$(BUILD)/torchio/spec_%.o: tests/oracle/dump_model.c | $(BUILD)/torchio
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/torchio/spec_%: $(BUILD)/torchio/spec_%.o $(BUILD)/gen/%.o $(RUNTIME_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME_LIB) $(LDLIBS) -o $@
$(BUILD)/torchio/spec64_%.o: tests/oracle/dump_model.c | $(BUILD)/torchio
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_DOUBLE -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/torchio/spec64_%: $(BUILD)/torchio/spec64_%.o $(BUILD)/gen64/%.o $(RUNTIME64_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME64_LIB) $(LDLIBS) -o $@
