# The PyTorch modules of the small models of tests/specs/ against their C
# (tests/t_torchio.sh, tests/torchio/compare_dumps.py): each model's C is
# run by the oracle's dumper (tests/oracle/dump_model.c), built here
# against $(BUILD)/testgen, where advcc also wrote the modules (--torch).
TORCHIO_DUMPS := $(patsubst %,$(BUILD)/torchio/dump_%,$(TESTGEN_MODELS))
check: $(TORCHIO_DUMPS)
.PRECIOUS: $(BUILD)/torchio/%.o

$(BUILD)/torchio/dump_%.o: tests/oracle/dump_model.c | $(BUILD)/torchio
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_MODEL=advcc_model_$* -c $< -o $@
$(BUILD)/torchio/dump_%: $(BUILD)/torchio/dump_%.o $(BUILD)/testgen/%.o $(RUNTIME_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(RUNTIME_LIB) $(LDLIBS) -o $@
$(BUILD)/torchio:
	mkdir -p $@
