# seize — build, test, sanitizers, valgrind, benchmarks, fuzzing.
#
#   make            library (build/libseize.a) and the tool (build/seize)
#   make test       installs missing Debian packages, builds, runs every test
#   make check      formatting, include layering (ARCHITECTURE.md §9), sizes (scripts/check-*.sh)
#   make asan       the same suite under AddressSanitizer + UBSan (no recovery)
#   make valgrind   the same suite under valgrind memcheck
#   make bench      benchmarks, each reporting a ratio against a limit measured in the same run
#   make fuzz       builds the libFuzzer targets (clang) into build/fuzz/; FUZZ_SECONDS=60 make fuzz-run
#
# Every top-level target first runs scripts/install-deps.sh (a no-op when all is installed).

TOP_TARGETS := all lib test check asan valgrind bench fuzz fuzz-run clean format
.PHONY: $(TOP_TARGETS)

ifndef SEIZE_DEPS_OK

$(TOP_TARGETS):
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory SEIZE_DEPS_OK=1 $@

else

BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3
SIMD    := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && echo -mavx2 -mfma)
OPT     ?= -O2 -g $(SIMD)
PKGS    := openblas libjpeg libpng libutf8proc jansson libcurl zlib libmicrohttpd
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
           -pthread -Iinclude $(shell pkg-config --cflags $(PKGS)) $(OPT)
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -pthread
# oneDNN (libdnnl-dev) runs the model's matrix products (src/nn/gemm_dnnl.c); `make NO_DNNL=1`
# builds without it (the portable path in src/nn/gemm.c). libgomp: oneDNN's OpenMP runtime.
ifndef NO_DNNL
CFLAGS  += -DSEIZE_HAVE_DNNL
LDLIBS  += -ldnnl -lgomp
endif
# MPI=1: the cluster module (src/cluster/) runs over Open MPI (libopenmpi-dev, issue 16); without
# it the same module is single-process and nothing needs MPI to build or run.
ifdef MPI
CFLAGS  += -DSEIZE_MPI $(shell pkg-config --cflags ompi-c)
LDLIBS  += $(shell pkg-config --libs ompi-c)
endif
LDFLAGS += $(SANITIZE)

LIB_SRC   := $(sort $(wildcard src/*/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)

# CUDA=1: the CUDA backend too (src/nn/backend_cuda.cu; backend "cuda"), compiled by nvcc for
# A100 (sm_80) and H100/H200 (sm_90) with PTX for newer GPUs, linked with the CUDA runtime and
# cuBLAS of the toolkit nvcc belongs to (CUDA_HOME: from nvcc on PATH, else /usr/local/cuda).
# Without it nothing changes: LIB_SRC is src/*/*.c only.
ifdef CUDA
CUDA_HOME ?= $(or $(patsubst %/bin/nvcc,%,$(shell command -v nvcc 2>/dev/null)),/usr/local/cuda)
NVCC      ?= $(CUDA_HOME)/bin/nvcc
NVCCFLAGS ?= -O2 -g -lineinfo -std=c++20 -gencode arch=compute_80,code=sm_80 \
             -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
             -Xcompiler -Wall,-Wextra
CFLAGS    += -DSEIZE_CUDA
LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
LIB_OBJ   += $(BUILD)/obj/src/nn/backend_cuda.o
endif

CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS     := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIB       := $(BUILD)/libseize.a
BIN       := $(BUILD)/seize

.SECONDARY:

all: $(BIN) $(TESTS)
lib: $(LIB)

# Layering (ARCHITECTURE.md §9): a file sees the public headers (include/) and its own folder
# only, so src/<module>/x.c cannot include another module's private header, nor cli/ a module's.
# Unit tests may test private headers (tests/unit/test_clip.c uses nn/backend.h): they keep -Isrc.
# scripts/check-layering.sh checks the order of the public headers (make check).
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(patsubst %/,%,$(dir $<)) $(SANITIZE) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/unit/%.o: CFLAGS += -Isrc
$(BUILD)/obj/bench/bench_gemm.o: CFLAGS += -Isrc # measures src/nn/gemm.h, a private header
$(BUILD)/obj/bench/bench_blip2.o: CFLAGS += -Isrc # times src/nn/blip2_int.h's seams and gemm.h

# The web page (src/serve/web/) is compiled into the library with .incbin (src/serve/assets.c).
$(BUILD)/obj/src/serve/assets.o: $(wildcard src/serve/web/*)

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -DSEIZE_CUDA -Iinclude -I$(patsubst %/,%,$(dir $<)) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# The CLI's option parser is tested on its own, linked with the CLI helpers it uses.
$(BUILD)/tests/test_cli_opt: $(BUILD)/obj/tests/unit/test_cli_opt.o $(BUILD)/obj/cli/opt.o \
                             $(BUILD)/obj/cli/util.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

test: $(BIN) $(TESTS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) WRAP="$(WRAP)" tests/run.sh

check:
	@scripts/check-layering.sh --self-test
	@scripts/check-layering.sh
	@scripts/check-format.sh
	@scripts/check-size.sh --self-test
	@scripts/check-size.sh

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g $(SIMD)" SANITIZE="$(ASAN_FLAGS)" \
	    SEIZE_ASAN=1 test

valgrind:
	@$(MAKE) --no-print-directory BUILD=build/valgrind OPT="-O1 -g $(SIMD)" \
	    WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" test

# scripts/install-bench-deps.sh: PyTorch, ONNX and onnxruntime-node for bench_clip's references
bench: $(BIN) $(BENCHES)
	@BUILD=$(BUILD) scripts/install-bench-deps.sh
	@BUILD=$(BUILD) PYTHON=$(PYTHON) bench/run.sh

# libFuzzer targets: clang, with the library compiled for fuzzing in its own build folder.
# UBSan findings abort (-fno-sanitize-recover) so that the fuzzer sees them as crashes.
FUZZ_BUILD := build/fuzz
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g $(SIMD)" \
	    SANITIZE="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" lib
	@mkdir -p $(FUZZ_BUILD)/bin
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "clang $$f -> $(FUZZ_BUILD)/bin/$$n"; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 $(SIMD) -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS)) \
	    $(FUZZ_SAN) -fsanitize=fuzzer $$f $(FUZZ_BUILD)/libseize.a $(LDLIBS) \
	    -o $(FUZZ_BUILD)/bin/$$n || exit 1; done

# Runs each target (FUZZ_TARGETS="fuzz_npy fuzz_index" for some) for FUZZ_SECONDS with its seeds
# and dictionary (tests/fuzz/seeds/<target>/, tests/fuzz/<target>.dict), its output in
# build/fuzz/log/<target>.log, crash inputs in fuzz-corpus/crashes/; fails when any target
# found a crash, a leak or a timeout, after running the others.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(notdir $(FUZZ_SRC:.c=))
fuzz-run: fuzz
	@mkdir -p $(FUZZ_BUILD)/log fuzz-corpus/crashes; failed=; \
	for n in $(FUZZ_TARGETS); do mkdir -p fuzz-corpus/$$n; log=$(FUZZ_BUILD)/log/$$n.log; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  UBSAN_OPTIONS=print_stacktrace=1 $(FUZZ_BUILD)/bin/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    $$( [ -f tests/fuzz/$$n.dict ] && echo -dict=tests/fuzz/$$n.dict ) \
	    -artifact_prefix=fuzz-corpus/crashes/$$n- fuzz-corpus/$$n \
	    $$( [ -d tests/fuzz/seeds/$$n ] && echo tests/fuzz/seeds/$$n ) >$$log 2>&1; rc=$$?; \
	  grep -E '^(Done [0-9]+ runs|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' $$log; \
	  if [ $$rc -ne 0 ]; then failed="$$failed $$n"; \
	    echo "$$n FAILED (exit $$rc), log $$log:"; grep -E -A24 'ERROR: |runtime error:' $$log | head -40; \
	    grep -E 'Test unit written to' $$log; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-run: failed:$$failed"; exit 1; fi

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

endif
