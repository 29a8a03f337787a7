# The advcc compiler: Flex lexer, Bison parser, front end, IR, fusion, emitter.
COMPILER_SRC := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
# runtime/numparse.c: the one strict number reader, shared with the runtime;
# runtime/vocab.c: the names of the attack settings (vocab.h); runtime/mkdirs.c.
COMPILER_RT_SRC := runtime/numparse.c runtime/vocab.c runtime/mkdirs.c
# Made by Flex, Bison and the rule for torch_prelude.c below, in $(BUILD)/compiler.
COMPILER_GEN := parser lexer torch_prelude
COMPILER_OBJ := $(patsubst compiler/%.c,$(BUILD)/compiler/%.o,$(COMPILER_SRC)) \
                $(patsubst %,$(BUILD)/compiler/%.o,$(COMPILER_GEN)) \
                $(patsubst runtime/%.c,$(BUILD)/runtime/%.o,$(COMPILER_RT_SRC))
COMPILER_LIB := $(BUILD)/lib/libadvcc_compiler.a
# Flex's and Bison's own output is exempt from the warnings we hold our code to.
GENERATED_PARSER_CFLAGS := -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter

$(BUILD)/compiler/parser.c $(BUILD)/compiler/parser.h: compiler/parser.y | $(BUILD)/compiler
	bison -Wall --defines=$(BUILD)/compiler/parser.h -o $(BUILD)/compiler/parser.c $<
$(BUILD)/compiler/lexer.c $(BUILD)/compiler/lexer.h: compiler/lexer.l | $(BUILD)/compiler
	flex --header-file=$(BUILD)/compiler/lexer.h -o $(BUILD)/compiler/lexer.c $<

$(BUILD)/compiler/parser.o: $(BUILD)/compiler/parser.c $(BUILD)/compiler/lexer.h
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(GENERATED_PARSER_CFLAGS) -c $< -o $@
$(BUILD)/compiler/lexer.o: $(BUILD)/compiler/lexer.c $(BUILD)/compiler/parser.h
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(GENERATED_PARSER_CFLAGS) -c $< -o $@
$(BUILD)/compiler/%.o: compiler/%.c $(BUILD)/compiler/parser.h $(BUILD)/compiler/lexer.h | $(BUILD)/compiler
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# compiler/torch_prelude.py, the layers every PyTorch module starts with
# (emit_torch.c), as one C string.
$(BUILD)/compiler/torch_prelude.c: compiler/torch_prelude.py | $(BUILD)/compiler
	{ echo '/* Generated from compiler/torch_prelude.py by compiler.mk. */'; \
	  echo 'const char advcc_torch_prelude[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@
$(BUILD)/compiler/torch_prelude.o: $(BUILD)/compiler/torch_prelude.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(COMPILER_LIB): $(COMPILER_OBJ) | $(BUILD)/lib
	rm -f $@ && ar rcs $@ $^
$(ADVCC): $(BUILD)/compiler/main.o $(COMPILER_LIB)
	$(CC) $(LDFLAGS) $^ -ljansson -lm -o $@

$(BUILD)/compiler $(BUILD)/lib:
	mkdir -p $@
