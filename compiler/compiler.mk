# The advcc compiler: Flex lexer, Bison parser, front end, IR, fusion, emitter.
COMPILER_SRC := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
# runtime/numparse.c: the one strict number reader, shared with the runtime.
COMPILER_OBJ := $(patsubst compiler/%.c,$(BUILD)/compiler/%.o,$(COMPILER_SRC)) \
                $(BUILD)/compiler/parser.o $(BUILD)/compiler/lexer.o \
                $(BUILD)/runtime/numparse.o
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

$(COMPILER_LIB): $(COMPILER_OBJ) | $(BUILD)/lib
	rm -f $@ && ar rcs $@ $^
$(ADVCC): $(BUILD)/compiler/main.o $(COMPILER_LIB)
	$(CC) $(LDFLAGS) $^ -lm -o $@

$(BUILD)/compiler $(BUILD)/lib:
	mkdir -p $@
