# diffsbi — plain Makefile. Targets: all (libdiffsbi.a, libdiffsbi.so, diffsbi),
# demo, test, test-sanitize, bench, examples, install, clean. See README.md.
PREFIX   ?= /usr/local
CC       ?= cc
BUILD    ?= build
SAN      ?=
WERROR   ?=
PKGS      = cairo libcjson
DEPS_OK  := $(shell sh scripts/deps.sh >&2 && echo 1)
# OpenBLAS, OpenMP variant: its BLAS calls are safe and single-threaded inside
# our own OpenMP regions (data-parallel training), and it shares the thread
# pool. Linked by path with an rpath so the system-wide alternative does not
# swap in the pthread variant at run time.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS_LIB  = /usr/lib/$(MULTIARCH)/openblas-openmp
BLAS_INC  = /usr/include/$(MULTIARCH)/openblas-openmp

CFLAGS_BASE = -std=gnu17 -O2 -g -fPIC -fno-math-errno -fno-trapping-math -Wall -Wextra -Wshadow -fopenmp \
              -Iinclude -Isrc -I$(BLAS_INC) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ifneq ($(WERROR),)
CFLAGS_BASE += -Werror
endif
ifneq ($(SAN),)
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN = -fsanitize=address,undefined
endif
CFLAGS  += $(CFLAGS_BASE)
LDLIBS  += -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas \
           $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -ldl -fopenmp $(LDSAN)

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all demo test test-sanitize check-sanitize bench bench-accuracy examples install clean deps
all: $(BUILD)/libdiffsbi.a $(BUILD)/libdiffsbi.so $(BUILD)/diffsbi diffsbi

deps:
	sh scripts/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libdiffsbi.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/libdiffsbi.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS)

$(BUILD)/diffsbi: $(CLI_OBJ) $(BUILD)/libdiffsbi.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libdiffsbi.a $(LDLIBS)

diffsbi: $(BUILD)/diffsbi
	@ln -sf $(BUILD)/diffsbi diffsbi

$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/libdiffsbi.a
	$(CC) -o $@ $(TEST_OBJ) $(BUILD)/libdiffsbi.a $(LDLIBS) -lcriterion

# The demo: simulate, train, sample and plot the inverse-kinematics arm.
demo: all
	$(BUILD)/diffsbi demo --out out/demo

# Tests run with one BLAS/OpenMP thread each, two test processes at a time.
# The examples run first as smoke tests (each checks its own answer).
test: $(BUILD)/run_tests $(BUILD)/diffsbi examples
	@for f in $(BUILD)/examples/*; do echo "example $$f"; DSBI_NUM_THREADS=1 $$f >/dev/null || exit 1; done
	DSBI_NUM_THREADS=1 DSBI_CLI=$(BUILD)/diffsbi $(BUILD)/run_tests --jobs 2 $(TESTFLAGS)

# fontconfig (used by cairo for text) keeps global caches that LeakSanitizer
# reports at exit; they are not ours, so they are suppressed by library name.
test-sanitize check-sanitize:
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp $(MAKE) BUILD=build/san SAN=1 test

$(BUILD)/bench_speed: bench/bench_speed.c $(BUILD)/libdiffsbi.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdiffsbi.a $(LDLIBS)

# Speed benchmark side by side with the PyTorch reference (see bench/run.sh).
bench: all $(BUILD)/bench_speed
	sh bench/run.sh

# sbibm accuracy, all ten tasks (long; not part of test): BUDGET=1000|10000|100000 [10000]
bench-accuracy: $(BUILD)/diffsbi
	sh bench/accuracy.sh $(BUDGET)

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c $(BUILD)/libdiffsbi.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdiffsbi.a $(LDLIBS)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libdiffsbi.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdiffsbi.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/diffsbi.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/diffsbi $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' diffsbi.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/diffsbi.pc

clean:
	rm -rf build diffsbi

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
