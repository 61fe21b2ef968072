# diffsbi — plain Makefile. Targets: all (libdiffsbi.a, libdiffsbi.so, diffsbi),
# demo, test, test-sanitize, bench, bench-accuracy, bench-design, examples, plugins,
# fuzz, fuzz-build, install, clean. See README.md.
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

.PHONY: all demo test test-sanitize check-sanitize bench bench-accuracy bench-design bench-tall bench-summary examples install clean deps plugins fuzz fuzz-build
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

# Design-space sweep (models x samplers, C2ST, NFE, sampling time; hours at the
# defaults; not part of test). Environment knobs, see bench/design.sh: TASKS,
# OBS, BUDGET, SAMPLES, EPOCHS, DESIGNS, SAMPLER_NAMES, DIAGNOSE, OUT, REF, e.g.
#   make bench-design TASKS=two_moons OBS=1 BUDGET=1000 SAMPLES=500 EPOCHS=20
bench-design: $(BUILD)/diffsbi
	sh bench/design.sh

$(BUILD)/bench_tall: bench/bench_tall.c $(BUILD)/libdiffsbi.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdiffsbi.a $(LDLIBS)

# Tall data: GAUSS vs JAC vs F-NPSE, sliced Wasserstein and time against n on
# the exact Gaussian toy and a learned gaussian_linear model (~15 min on one
# core; FAST=1 for a ~1-2 min run; BENCH_TALL_ARGS for more options, see
# build/bench_tall --help). Not part of test.
bench-tall: $(BUILD)/bench_tall
	nice -n 5 $(BUILD)/bench_tall $(if $(FAST),--fast) $(BENCH_TALL_ARGS)

$(BUILD)/bench_summary: bench/bench_summary.c $(BUILD)/libdiffsbi.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdiffsbi.a $(LDLIBS)

# Summary networks vs hand-made statistics on normal_gamma (sets) and ar1
# (sequences, GRU vs LSTM): C2ST against the exact posterior, seconds per epoch,
# SBC/coverage verdicts and TARP area (~25 min on 2 cores; FAST=1 ~5 min;
# EPOCHS=N). Results in bench/results/summary*.txt. Not part of test.
bench-summary: $(BUILD)/bench_summary
	FAST=$(FAST) sh bench/summary.sh $(EPOCHS)

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c $(BUILD)/libdiffsbi.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdiffsbi.a $(LDLIBS)

# ---------------------------------------------------------------- simulator plugins
# Example plugins (examples/plugins/) as shared libraries in build/plugins/.
# The Fortran example needs gfortran; without it this target says so and fails.
PLUGIN_CFLAGS = -std=gnu17 -O2 -g -fPIC -shared -Wall -Wextra -Wshadow -Iinclude
plugins: $(BUILD)/plugins/libsir.so $(BUILD)/plugins/libfortran_gauss.so
$(BUILD)/plugins/libsir.so: examples/plugins/sir_plugin.c include/diffsbi_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $< -lm
$(BUILD)/plugins/libfortran_gauss.so: examples/plugins/fortran_plugin.f90
	@mkdir -p $(dir $@)
	@command -v gfortran >/dev/null 2>&1 || { echo "make plugins: gfortran not found: cannot build the Fortran example (apt-get install gfortran)" >&2; exit 1; }
	gfortran -O2 -g -fPIC -shared -Wall -J $(dir $@) -o $@ $<

# ---------------------------------------------------------------- fuzzing
# libFuzzer targets for the model loader, the CSV and NPY readers and the
# --guide expression parser, built with clang (installed here if missing)
# under ASan + UBSan in build/fuzz/. Seed corpora come from valid files written
# by the CLI (and valid expressions) plus tests/corpus/.
# make fuzz [FUZZ_TIME=seconds] [FUZZ_RUNS=n] [FUZZ_TARGETS="model csv npy guide"]
# runs each target in turn until FUZZ_TIME seconds [60; 0 = no limit] or n
# executions [-1 = no limit], whichever comes first. Targets with a
# fuzz/NAME.dict get that libFuzzer dictionary.
FUZZ_TIME ?= 60
FUZZ_RUNS ?= -1
FUZZ_TARGETS ?= model csv npy guide
FUZZ_DIR   = build/fuzz
FUZZ_SAN   = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=gnu17 -O1 -g -fopenmp -Iinclude -Isrc -I$(BLAS_INC) \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wno-pass-failed
FUZZ_OBJ  := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_BINS := $(FUZZ_DIR)/fuzz_model $(FUZZ_DIR)/fuzz_csv $(FUZZ_DIR)/fuzz_npy $(FUZZ_DIR)/fuzz_guide
.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_DIR)/.clang:
	@mkdir -p $(FUZZ_DIR)
	@command -v clang >/dev/null 2>&1 || { echo "make fuzz: installing clang (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  clang libclang-rt-dev libomp-dev >/dev/null; }
	@touch $@

$(FUZZ_DIR)/%.o: %.c | $(FUZZ_DIR)/.clang
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJ) | $(FUZZ_DIR)/.clang
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS) $(FUZZ_SAN)

# seeds: valid files of each kind, then the malformed corpus of the tests
$(FUZZ_DIR)/seeds/.done: $(BUILD)/diffsbi $(wildcard tests/corpus/*)
	@mkdir -p $(FUZZ_DIR)/seeds/model $(FUZZ_DIR)/seeds/csv $(FUZZ_DIR)/seeds/npy $(FUZZ_DIR)/seeds/guide
	$(BUILD)/diffsbi simulate --task two_moons --sims 20 --out $(FUZZ_DIR)/seeds/csv/two_moons.csv --quiet
	$(BUILD)/diffsbi simulate --task gaussian_linear --sims 5 --out $(FUZZ_DIR)/seeds/csv/gl.csv --quiet
	$(BUILD)/diffsbi simulate --task two_moons --sims 20 --out $(FUZZ_DIR)/seeds/npy/two_moons.npy --quiet
	$(BUILD)/diffsbi train --data $(FUZZ_DIR)/seeds/csv/two_moons.csv --theta 1-2 --x 3-4 --epochs 2 \
	  --width 4 --depth 1 --batch 8 --out $(FUZZ_DIR)/seeds/model/tiny.dsbi --quiet
	cp tests/corpus/*.csv tests/corpus/*.txt $(FUZZ_DIR)/seeds/csv/ 2>/dev/null || true
	cp tests/corpus/*.npy $(FUZZ_DIR)/seeds/npy/ 2>/dev/null || true
	cp tests/corpus/*.dsbi $(FUZZ_DIR)/seeds/model/ 2>/dev/null || true
	printf 'sin(a1) >= 0' > $(FUZZ_DIR)/seeds/guide/sin.expr
	printf 'a1^2 + 2*a2*h - 3 <= 1/h' > $(FUZZ_DIR)/seeds/guide/poly.expr
	printf -- '-(a1 - a2)^3 / (1 + exp(h)) < cos(a1) * tan(a2)' > $(FUZZ_DIR)/seeds/guide/mixed.expr
	printf 'sqrt(abs(theta_1)) + log(a3) - tanh(+a2) > 5e-2 ^ -theta_4' > $(FUZZ_DIR)/seeds/guide/funcs.expr
	cp tests/corpus/*.expr $(FUZZ_DIR)/seeds/guide/ 2>/dev/null || true
	@touch $@

fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/seeds/.done

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	  echo "fuzz_$$t: $(FUZZ_TIME) s, runs $(FUZZ_RUNS)"; \
	  $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -runs=$(FUZZ_RUNS) -print_final_stats=1 -max_len=65536 \
	    $$dict -artifact_prefix=$(FUZZ_DIR)/crash_$$t- $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/seeds/$$t || exit 1; \
	done

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libdiffsbi.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdiffsbi.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/diffsbi.h include/diffsbi_plugin.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/diffsbi $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' diffsbi.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/diffsbi.pc

clean:
	rm -rf build diffsbi

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(wildcard $(FUZZ_DIR)/src/*/*.d)
