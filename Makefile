# facet: small Unix tools that learn age, gender and ethnicity from faces.
#   make            build bin/ (tools) with libfacet
#   make check      install missing Debian packages, build, run every test (C units + BATS)
#   make check SANITIZE=1   the same under AddressSanitizer + UBSan (built in build-san/)
#   make demo       install what is missing, run the whole flow, say where the output went
#   make model      rebuild models/facet-utk64.facet from UTKFace ($FACET_DATA)
#   make install PREFIX=/usr/local
#   make fuzz FUZZ_SECONDS=600

SANITIZE ?= 0
PREFIX   ?= /usr/local
JOBS     ?= 2
FUZZ_SECONDS ?= 60

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
BINDIR   ?= $(BUILD)/bin
SANFLAGS  = -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer
OPT      ?= -O1 -g
else
BUILD    ?= build
BINDIR   ?= bin
SANFLAGS  =
OPT      ?= -O2 -g
endif

PKGS     = vips msgpack libturbojpeg jansson plplot cairo openblas
CC      ?= cc
CFLAGS  ?= $(OPT)
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -fopenmp -march=native -Icommon $(SANFLAGS)
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CXX     ?= c++
CXXFLAGS ?= $(OPT)
CXXFLAGS += -std=gnu++17 -Wall -Wextra -Werror -march=native -Icommon $(SANFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -ldlib -lstdc++ -lm -lpthread
LDFLAGS += -fopenmp $(SANFLAGS)
# Open MPI, for facet-train's data-parallel training: only common/nn/dist.c includes mpi.h and
# only facet-train links it (the other tools never pull dist.o out of libfacet.a).
MPI_CFLAGS ?= $(shell pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
MPI_LIBS   ?= $(shell pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null)

PROGS    = $(patsubst tools/%.c,%,$(wildcard tools/*.c))
LIBSRC   = $(wildcard common/*.c common/nn/*.c)
LIBCXX   = $(wildcard common/*.cc)
LIBOBJ   = $(patsubst %.c,$(BUILD)/%.o,$(LIBSRC)) $(patsubst %.cc,$(BUILD)/%.o,$(LIBCXX))
LIB      = $(BUILD)/libfacet.a
UNITSRC  = $(wildcard tests/unit/test_*.c)
UNITS    = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNITSRC))
BINS     = $(addprefix $(BINDIR)/,$(PROGS))

all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The one C++ file: dlib behind common/face.h.
$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	@echo "CXX $<"
	@$(CXX) $(CXXFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/common/nn/dist.o: CFLAGS += $(MPI_CFLAGS)
$(BINDIR)/facet-train: LDLIBS += $(MPI_LIBS)

$(LIB): $(LIBOBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BINDIR)/%: $(BUILD)/tools/%.o $(LIB)
	@mkdir -p $(BINDIR)
	@echo "LD $@"
	@$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# The engine's unit tests link without libvips, TurboJPEG, dlib and the plotting libraries, so
# that common/nn/ (and common/resample.c, the resize it uses) cannot come to need them unseen.
NN_UNITS  = $(addprefix $(BUILD)/tests/,test_nn test_quant test_fastops)
$(NN_UNITS): LDLIBS = $(shell pkg-config --libs msgpack 2>/dev/null) -ldnnl -lm -lpthread

deps:
	@scripts/deps.sh check

deps-demo:
	@scripts/deps.sh demo

units: $(UNITS)

check: deps
	$(MAKE) all units
	@set -e; for t in $(UNITS); do echo "unit: $$t"; $$t; done
	FACET_BIN=$(CURDIR)/$(BINDIR) bats --print-output-on-failure tests/

demo: deps-demo
	$(MAKE) all
	pipelines/demo.sh

model: deps-demo
	$(MAKE) all
	pipelines/model.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 man/man7/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	install -d $(DESTDIR)$(PREFIX)/share/facet/models
	install -m 644 models/*.facet $(DESTDIR)$(PREFIX)/share/facet/models/

clean:
	rm -rf build build-san build-fuzz bin

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

format:
	clang-format -i common/*.c common/*.h common/nn/*.[ch] tools/*.c tests/unit/*.c

.PHONY: all deps deps-demo units check demo model install clean format fuzz
.SECONDARY:
-include $(LIBOBJ:.o=.d) $(patsubst %,$(BUILD)/tools/%.d,$(PROGS)) \
         $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%.d,$(UNITSRC))
