# Builds facet's libFuzzer targets with clang: make -f fuzz/fuzz.mk (run from the repository root;
# scripts/fuzz.sh does it). libfacet is compiled again into $(FB)/ with coverage instrumentation
# and ASan + UBSan, each fuzz/fuzz_X.c links into $(FB)/fuzz_X, and fuzz/mkseeds*.c into the seed
# generators. Nothing here touches build/ or bin/.
FB       ?= build-fuzz
CLANG    ?= clang-14
CLANGXX  ?= clang++-14
PKGS      = vips msgpack libturbojpeg jansson plplot cairo openblas
SAN       = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS    = -O1 -g -std=gnu11 -Wall -Wextra -Wno-unused-function -Wno-pass-failed -fopenmp -march=native -Icommon \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CXXFLAGS  = -O2 -g -std=gnu++17 -Wall -Wextra -march=native -Icommon
LDLIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -ldlib -lstdc++ -lm -lpthread

# common/nn/dist.c is facet-train's MPI glue, which no fuzz target links
LIBSRC    = $(filter-out common/nn/dist.c,$(wildcard common/*.c common/nn/*.c))
LIBCXX    = $(wildcard common/*.cc)
LIBOBJ    = $(patsubst %.c,$(FB)/%.o,$(LIBSRC)) $(patsubst %.cc,$(FB)/%.o,$(LIBCXX))
LIB       = $(FB)/libfacet-fuzz.a
TARGETS   = $(patsubst fuzz/%.c,$(FB)/%,$(wildcard fuzz/fuzz_*.c))
SEEDERS   = $(patsubst fuzz/%.c,$(FB)/%,$(wildcard fuzz/mkseeds*.c))

all: $(TARGETS) $(SEEDERS)

$(FB)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"
	@$(CLANG) $(CFLAGS) $(SAN) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

# dlib behind common/face.h (the one C++ file) is built as dlib itself is: optimised, without
# sanitizers or coverage. Instrumented, dlib's templates made one photo take over 10 seconds (the
# fuzzer's time limit); facet's own code around them stays instrumented.
$(FB)/%.o: %.cc
	@mkdir -p $(dir $@)
	@echo "CXX (fuzz) $<"
	@$(CLANGXX) $(CXXFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIBOBJ)
	@rm -f $@
	@ar rcs $@ $^

$(FB)/fuzz_%: fuzz/fuzz_%.c $(LIB)
	@echo "LD (fuzz) $@"
	@$(CLANG) $(CFLAGS) $(SAN) -fsanitize=fuzzer -MMD -MP -MF $@.d -o $@ $< $(LIB) $(LDLIBS)

$(SEEDERS): $(FB)/%: fuzz/%.c $(LIB)
	@echo "LD (fuzz) $@"
	@$(CLANG) $(CFLAGS) $(SAN) -fsanitize=fuzzer-no-link -MMD -MP -MF $@.d -o $@ $< $(LIB) \
		$(LDLIBS)

.PHONY: all
.SECONDARY:
-include $(LIBOBJ:.o=.d) $(TARGETS:=.d) $(SEEDERS:=.d)
