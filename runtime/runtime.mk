# The runtime every generated model links with, in float (the product) and in
# double (libadvcc64, for finite-difference checks).
RUNTIME_SRC   := $(filter-out runtime/main.c,$(wildcard runtime/*.c))
RUNTIME_OBJ   := $(patsubst runtime/%.c,$(BUILD)/runtime/%.o,$(RUNTIME_SRC))
RUNTIME64_OBJ := $(patsubst runtime/%.c,$(BUILD)/runtime64/%.o,$(RUNTIME_SRC))
RUNTIME_LIB   := $(BUILD)/lib/libadvcc.a
RUNTIME64_LIB := $(BUILD)/lib/libadvcc64.a

$(BUILD)/runtime/%.o: runtime/%.c | $(BUILD)/runtime
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@
$(BUILD)/runtime64/%.o: runtime/%.c | $(BUILD)/runtime64
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DADVCC_DOUBLE -c $< -o $@
# rng.c's noise lanes take sqrtf of values never negative: without errno it
# is one instruction a vector, with it a branch that keeps the loop scalar.
$(BUILD)/runtime/rng.o $(BUILD)/runtime64/rng.o: ALL_CFLAGS += -fno-math-errno
$(RUNTIME_LIB): $(RUNTIME_OBJ) | $(BUILD)/lib
	rm -f $@ && ar rcs $@ $^
$(RUNTIME64_LIB): $(RUNTIME64_OBJ) | $(BUILD)/lib
	rm -f $@ && ar rcs $@ $^

$(BUILD)/runtime $(BUILD)/runtime64:
	mkdir -p $@
