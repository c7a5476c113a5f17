# minimax.c — build, test, install.
#   make demo       install deps, build, write a small random model once and generate from it
#   make            library + CLI (build/minimax, build/libminimax.a, build/libminimax.so)
#   make test       the whole suite: normal build, then the same suite under ASan+UBSan
#   make test-fast  the suite on the normal build only
#   make sanitize   build the sanitizer variant (build-san/)
#   make install PREFIX=/usr/local
#   make deps       install missing Debian -dev packages (scripts/deps.sh); every build runs it first

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
PKGS     = jansson oniguruma libutf8proc libmicrohttpd
OPT     ?= -O3
ARCHFLAGS ?=
CFLAGS  ?=
CFLAGS  += -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(OPT) -g -Wall -Wextra -Werror \
           -Wno-unused-parameter -fopenmp -fPIC -Iinclude -Isrc $(ARCHFLAGS) $(SANFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lopenblas -lm -lpthread
LDFLAGS += -fopenmp $(SANFLAGS)

# Sources are found per subsystem folder (src/<folder>/*.c); src/cli/ is the command, not the library.
LIB_SRC  = $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  = $(sort $(wildcard src/cli/*.c))
TEST_SRC = $(sort $(wildcard tests/test_*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS  = $(wildcard include/*.h src/*/*.h src/*/*.inc tests/*.h)

.PHONY: all deps demo test test-fast sanitize test-san install clean
all: $(BUILD)/.deps-ok $(BUILD)/minimax $(BUILD)/libminimax.so $(TEST_BIN)

$(BUILD)/.deps-ok: scripts/deps.sh
	@mkdir -p $(BUILD)
	@bash scripts/deps.sh
	@touch $@
deps:
	bash scripts/deps.sh

# Objects depend on the Makefile too, so a change of flags (e.g. OPT) rebuilds everything.
$(BUILD)/%.o: %.c $(HEADERS) Makefile | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libminimax.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libminimax.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/minimax: $(CLI_OBJ) $(BUILD)/libminimax.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libminimax.a $(LDLIBS)
$(BUILD)/tests/%: tests/%.c $(HEADERS) Makefile $(BUILD)/libminimax.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libminimax.a $(LDLIBS)

# The README's first command: a small random model (written once) and a generation from it.
DEMO_MODEL ?= models/tiny
demo: all
	@test -f $(DEMO_MODEL)/config.json || $(BUILD)/minimax mkmodel -o $(DEMO_MODEL) --preset tiny
	$(BUILD)/minimax run -m $(DEMO_MODEL) --ids 200019,1503,373,264,2181 -n 32 --stats --print-ids

# The suite: tests/run.sh runs every test binary (and CLI checks) and ends with "N passed, N failed".
test-fast: all
	@bash scripts/deps-test.sh
	@bash tests/run.sh $(BUILD)

sanitize:
	$(MAKE) BUILD=build-san OPT=-O1 SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all

test-san: sanitize
	@MM_SANITIZE=1 bash tests/run.sh build-san

test: all sanitize
	@bash scripts/deps-test.sh
	@bash tests/run-all.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/minimax $(DESTDIR)$(PREFIX)/bin/minimax
	install -m 644 $(BUILD)/libminimax.a $(DESTDIR)$(PREFIX)/lib/libminimax.a
	install -m 755 $(BUILD)/libminimax.so $(DESTDIR)$(PREFIX)/lib/libminimax.so
	install -m 644 include/minimax.h $(DESTDIR)$(PREFIX)/include/minimax.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@PKGS@|$(PKGS)|g' minimax.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/minimax.pc

clean:
	rm -rf build build-san

# Kernel timing tool (not a test): make bench && build/bench/kernels [scalar|avx2|avx512]
.PHONY: bench
bench: $(BUILD)/bench/kernels
$(BUILD)/bench/kernels: bench/kernels.c $(HEADERS) $(BUILD)/libminimax.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libminimax.a $(LDLIBS)
