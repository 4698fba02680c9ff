# vdpa-shim build. `make` builds build/vdpa-shim; `make check` runs every test.
#   make CC=clang         build with clang
#   make check SAN=1      the whole suite under ASan+UBSan (separate build dir)
#   make check-valgrind   the unit and integration tests under valgrind
#   make check-all        all of the above and a clang build (what CI runs)
#   make deps             install the Debian packages the project needs
#   make matrix           probe the real peers, rewrite compat-matrix/ and docs/compat-matrix.md
#   make fuzz             run the libFuzzer targets (FUZZ_SECONDS each, default 60)
#   make bench            benchmarks (data plane, control plane, 1,000 devices) -> docs/performance.md

CC      ?= cc
SAN     ?= 0
PKGS    := libuv
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-missing-field-initializers
OPT     ?= -O2 -g

ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD   ?= build
SANFLAGS :=
endif

# Recursive (=), not immediate: on a fresh machine `make deps demo` installs
# libuv and pkg-config before any recipe asks for these.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   = $(shell pkg-config --libs cmocka 2>/dev/null)

# Include paths per layer: the libraries (lib/virtio, lib/proto) and the
# peers see only the libraries' headers; the shim's own headers (-Ishim) are
# for the shim and the tests that drive it. A peer that includes a shim
# header does not compile.
LIB_INC  := -Ilib -Ilib/base -Ilib/proto
CFLAGS  += $(CSTD) $(WARN) $(OPT) $(SANFLAGS) $(LIB_INC) $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)

# The libraries, lowest first, used by the shim and the peers alike:
# lib/base (VIRTIO constants, fd helpers, the only I/O on fds a peer
# shares), lib/proto (the vhost-user / vdpa-user protocol: wire format,
# message table, validation, transport, log, device types and models, the
# compatibility matrix; libproto.a holds lib/base too), lib/virtio (guest
# memory, the device side of a split virtqueue, the VIRTIO status machine).
VIRTIO_SRCS := $(wildcard lib/virtio/*.c)
VIRTIO_OBJS := $(VIRTIO_SRCS:%.c=$(BUILD)/%.o)
PROTO_SRCS  := $(wildcard lib/base/*.c lib/proto/*.c)
PROTO_OBJS  := $(PROTO_SRCS:%.c=$(BUILD)/%.o)
# The shim less main.c, shared with the tests, the bench and the fuzzers.
LIB_SRCS := $(filter-out shim/main.c,$(wildcard shim/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIBS     := $(BUILD)/libshim.a $(BUILD)/libvirtio.a $(BUILD)/libproto.a
# Reference peers (vdpa-user back-end, driver, probe): peers/<name>/main.c
# builds $(BUILD)/<name>, linked with lib/ only.
PEER_NAMES  := $(patsubst peers/%/main.c,%,$(wildcard peers/*/main.c))
PEER_PROGS  := $(PEER_NAMES:%=$(BUILD)/%)
# Unit tests (tests/unit/): in-process, no program started.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Integration tests (tests/integ/): cmocka too, but each starts real
# processes (the shim binary with scripted peers, the reference back-end,
# prlimit). Their helpers are in tests/integ/, the shared ones in tests/unit/.
INTEG_SRCS := $(wildcard tests/integ/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integ/%.c=$(BUILD)/tests/integ/%)
# Benchmark harness (tests/bench/): built by `all` so that it keeps compiling,
# run only by `make bench`.
BENCH_NAMES := bringup scale
BENCH_PROGS := $(BENCH_NAMES:%=$(BUILD)/bench/%)

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS  += -DVDPA_SHIM_VERSION=\"$(VERSION)\"

.PHONY: all check check-all check-unit check-integ check-e2e check-valgrind check-layers check-size check-format \
	check-analyze format deps demo matrix fuzz bench-compare \
	bench clean

all: $(BUILD)/vdpa-shim $(PEER_PROGS) $(BENCH_PROGS)

$(BUILD)/vdpa-shim: $(BUILD)/shim/main.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/libshim.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libproto.a: $(PROTO_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libvirtio.a: $(VIRTIO_OBJS)
	rm -f $@ && ar rcs $@ $^

.SECONDEXPANSION:
$(PEER_PROGS): $(BUILD)/%: $$(addprefix $(BUILD)/,$$(subst .c,.o,$$(wildcard peers/%/*.c))) \
		$(BUILD)/libvirtio.a $(BUILD)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BENCH_PROGS): $(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(BUILD)/tests/bench/bench_lib.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Who may include what: the shim's headers are for the shim and the tests.
$(BUILD)/shim/%.o $(BUILD)/tests/%.o: CFLAGS += -Ishim
$(BUILD)/peers/%.o: CFLAGS += -Ipeers

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ishim -Ipeers $(CMOCKA_CFLAGS) -Itests/unit -o $@ $< $(LIBS) \
		$(LDFLAGS) $(CMOCKA_LIBS) $(PKG_LIBS)

$(BUILD)/tests/integ/%: tests/integ/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ishim -Ipeers $(CMOCKA_CFLAGS) -Itests/integ -Itests/unit -o $@ $< $(LIBS) \
		$(LDFLAGS) $(CMOCKA_LIBS) $(PKG_LIBS)

# Every test: unit tests (cmocka, in-process), integration tests (cmocka,
# the real program with scripted peers), then end-to-end tests against the
# real program and real peers. A peer that cannot start is a counted, loud skip.
check: check-layers check-size check-unit check-integ check-e2e

# The layering check: every include points down (docs/architecture.md).
check-layers:
	@python3 tests/check-layers.py

# The size rule: no file over 800 lines, no function over 80.
check-size:
	@python3 tests/check-size.py

# The formatter (.clang-format): every C file as clang-format writes it.
# `make format` rewrites them.
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
check-format:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format: clean"
format:
	@clang-format -i $(FORMAT_FILES)

# The static analyser (clang's, through scan-build) on the shim, the
# libraries and the peers: zero findings, or the target fails with the
# report directory named.
check-analyze:
	@rm -rf build-analyze
	@scan-build -o build-analyze/report --status-bugs $(MAKE) -s BUILD=build-analyze \
		build-analyze/vdpa-shim $(PEER_PROGS:$(BUILD)/%=build-analyze/%) \
		&& echo "analyze: no findings"

check-unit: $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run-unit.sh $(UNIT_BINS)

check-integ: $(INTEG_BINS) $(BUILD)/vdpa-shim $(PEER_PROGS)
	@BUILD=$(BUILD) tests/run-unit.sh $(INTEG_BINS)

check-e2e: $(BUILD)/vdpa-shim $(PEER_PROGS) $(BENCH_PROGS)
	@BUILD=$(BUILD) tests/run-e2e.sh

# Everything CI runs: gcc, clang, ASan+UBSan, valgrind (tests/check-all.sh).
check-all:
	@tests/check-all.sh

check-valgrind: $(UNIT_BINS) $(INTEG_BINS) $(BUILD)/vdpa-shim $(PEER_PROGS)
	@BUILD=$(BUILD) VALGRIND=1 tests/run-unit.sh $(UNIT_BINS) $(INTEG_BINS)

deps:
	@tests/install-deps.sh

demo: $(BUILD)/vdpa-shim
	@BUILD=$(BUILD) tests/e2e/demo.sh

# The compatibility matrix: probe the real peers that start here, rewrite
# compat-matrix/*.tsv (spec columns generated, measured columns from the
# probes; a peer that cannot start keeps its committed column) and render
# docs/compat-matrix.md.
matrix: $(BUILD)/vdpa-shim $(PEER_PROGS)
	@rm -rf $(BUILD)/matrix-probes && mkdir -p $(BUILD)/matrix-probes
	@BUILD=$(BUILD) tests/matrix/probe-all.sh $(BUILD)/matrix-probes
	@python3 compat-matrix/matrix.py build $(BUILD)/vdpa-probe $(BUILD)/matrix-probes
	@python3 compat-matrix/matrix.py render
	@echo "matrix: compat-matrix/*.tsv and docs/compat-matrix.md rewritten"

# libFuzzer targets (tests/fuzz), each for FUZZ_SECONDS from its seed corpus.
FUZZ_SECONDS ?= 60
fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# Benchmarks (tests/bench/run.sh): minutes, not part of check; BENCH_QUICK=1
# for a short run whose results stay in $(BUILD)/bench-out.
bench: $(BUILD)/vdpa-shim $(BENCH_PROGS)
	@BUILD=$(BUILD) tests/bench/run.sh

# The control plane of this tree against a commit's, side by side in one run:
# make bench-compare BASE=<commit> (tests/bench/compare.sh).
BASE ?= HEAD
bench-compare: $(BUILD)/vdpa-shim $(BENCH_PROGS)
	@BUILD=$(BUILD) tests/bench/compare.sh $(BASE)

# Installation: make install [PREFIX=/usr/local] [DESTDIR=...]. The man page
# is built from docs/vdpa-shim.1.scd by scdoc; the systemd units get this
# install's paths; the example config becomes SYSCONFDIR/vdpa-shim/vdpa-shim.conf
# only where there is none yet (an operator's file is never replaced).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/vdpa-shim
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
.PHONY: man install uninstall check-install

man: $(BUILD)/vdpa-shim.1

$(BUILD)/vdpa-shim.1: docs/vdpa-shim.1.scd VERSION
	@mkdir -p $(dir $@)
	@command -v scdoc >/dev/null || { echo "scdoc is missing: make deps (or apt-get install scdoc)"; exit 1; }
	sed 's/@VERSION@/$(VERSION)/g' $< | scdoc > $@.tmp && mv $@.tmp $@

install: $(BUILD)/vdpa-shim $(BUILD)/vdpa-shim.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/vdpa-shim
	install -m 0755 $(BUILD)/vdpa-shim $(DESTDIR)$(BINDIR)/vdpa-shim
	install -m 0644 $(BUILD)/vdpa-shim.1 $(DESTDIR)$(MANDIR)/man1/vdpa-shim.1
	sed -e 's|/usr/local/bin/vdpa-shim|$(BINDIR)/vdpa-shim|g' \
	    -e 's|/etc/vdpa-shim/|$(SYSCONFDIR)/vdpa-shim/|g' contrib/vdpa-shim.service \
		> $(DESTDIR)$(UNITDIR)/vdpa-shim.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vdpa-shim.service
	install -m 0644 contrib/vdpa-shim.socket $(DESTDIR)$(UNITDIR)/vdpa-shim.socket
	install -m 0644 contrib/vdpa-shim.conf $(DESTDIR)$(DOCDIR)/vdpa-shim.conf.example
	test -e $(DESTDIR)$(SYSCONFDIR)/vdpa-shim/vdpa-shim.conf || \
		install -m 0644 contrib/vdpa-shim.conf $(DESTDIR)$(SYSCONFDIR)/vdpa-shim/vdpa-shim.conf

# The config file stays (it is the operator's).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vdpa-shim $(DESTDIR)$(MANDIR)/man1/vdpa-shim.1 \
		$(DESTDIR)$(UNITDIR)/vdpa-shim.service $(DESTDIR)$(UNITDIR)/vdpa-shim.socket \
		$(DESTDIR)$(DOCDIR)/vdpa-shim.conf.example
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

# make install into a scratch DESTDIR, the files checked (also run by check-e2e
# as tests/e2e/test_install.sh).
check-install: $(BUILD)/vdpa-shim
	@BUILD=$(BUILD) tests/e2e/test_install.sh

# ---- The test guest (tests/guest, issue 15) ---------------------------------
# make guest: a small Linux guest made from Debian packages only (the Debian 12
# cloud kernel, busybox-static, its virtio modules, static helpers) in
# $(GUEST_DIR), cached by the package versions and the guest's sources. The
# tests/e2e/test_guest_*.sh tests build it themselves (same cache) and skip
# loudly where the packages cannot be downloaded. docs/guests.md.
# make guest GUEST_FLAVOUR=full: the Debian 12 generic kernel with virtio-gpu,
# i2c-dev and the gpio-virtio and i2c-virtio drivers built out of tree, in
# $(BUILD)/guest-full.
GUEST_FLAVOUR ?= cloud
GUEST_DIR ?= $(BUILD)/guest$(if $(filter-out cloud,$(GUEST_FLAVOUR)),-$(GUEST_FLAVOUR))
.PHONY: guest
guest:
	@GUEST_CC=$(CC) GUEST_FLAVOUR=$(GUEST_FLAVOUR) tests/guest/build.sh $(GUEST_DIR)
# ---- end of the test guest ----------------------------------------------------

# ---- rust-vmm back-ends (issue 17) --------------------------------------------
# make peers: the rust-vmm vhost-device-* back-ends the per-type live tests run,
# built by ../shared/rust-vmm-peers/build.sh (when that directory is there) into
# a cache outside the clone, PEERS_ROOT (its trixie root, default
# /var/cache/vdpa-shim/peers/trixie-rust) and PEERS_OUT (default
# PEERS_ROOT/out); not built again while the binaries are there and the sources'
# checksums are unchanged. Called by make deps. docs/peers.md.
PEERS_ROOT ?=
PEERS_OUT ?=
.PHONY: peers
peers:
	@PEERS_ROOT="$(PEERS_ROOT)" PEERS_OUT="$(PEERS_OUT)" tests/build-rustvmm-peers.sh
# ---- end of the rust-vmm back-ends --------------------------------------------

# ---- Debian root environments (issue 18) ---------------------------------------
# make peer-roots: a Debian root per release of PEER_ROOTS_RELEASES (default
# trixie: QEMU 10.0, DPDK 24.11, qemu-storage-daemon, vhost-user-gpu, the Rust
# virtiofsd; and bullseye: QEMU 5.2, DPDK 20.11, their daemons), made
# once with debootstrap + apt-get (tests/peers/roots.list) in PEER_ROOTS_DIR
# (default /var/cache/vdpa-shim/peers/RELEASE, outside the clone) and reused
# while its package list is unchanged; tests/peers/run runs a program in one.
# Called by make deps. docs/peers.md, "Debian root environments".
PEER_ROOTS_RELEASES ?= trixie bullseye
PEER_ROOTS_DIR ?=
.PHONY: peer-roots
peer-roots:
	@PEER_ROOTS_DIR="$(PEER_ROOTS_DIR)" tests/peers/build-root.sh $(PEER_ROOTS_RELEASES)
# ---- end of the Debian root environments ------------------------------------------

# ---- The version grid (issue 18) -----------------------------------------------
# make interop: the DPDK net version grid (tests/interop/net_grid.sh, one cell
# at a time: DPDK 20.11 / 22.11 / 24.11 virtio-user x net_vhost through
# pass-through and the up+down chain, down- and up-conversion with the
# reference peers), its CELL lines in $(BUILD)/interop/net.txt, then
# docs/interop.md from them (tests/interop/report.py); fails if a cell FAILs.
# It first makes the roots of INTEROP_ROOTS (make peer-roots: nothing done
# while they are up to date; INTEROP_ROOTS= skips that); a root that cannot
# be made is not an error here: its cells are SKIPs with the reason.
# INTEROP_GUESTS=1 (the default) adds the guest grid (tests/interop/guest_grid.sh:
# QEMU 5.2 / 7.2 / 10.0 and guest kernels 5.10 / 6.1 / 6.12 with net, blk and
# fs back-ends of each generation; about 50 guest boots, 20-30 minutes here).
INTEROP_ROOTS ?= trixie bullseye
INTEROP_GUESTS ?= 1
# INTEROP_JOBS=N: guest cells at once (tests/interop/guest_grid.sh); CI: nproc
INTEROP_JOBS ?= 1
.PHONY: interop
interop: $(BUILD)/vdpa-shim $(PEER_PROGS)
	@mkdir -p $(BUILD)/interop
	@[ -z "$(strip $(INTEROP_ROOTS))" ] || PEER_ROOTS_DIR="$(PEER_ROOTS_DIR)" \
		tests/peers/build-root.sh $(INTEROP_ROOTS) || echo "interop: a root could not be made: its cells skip"
	@rc=0; BUILD=$(BUILD) tests/interop/net_grid.sh --results $(BUILD)/interop/net.txt || rc=$$?; \
		if [ "$(INTEROP_GUESTS)" = 1 ]; then \
			BUILD=$(BUILD) INTEROP_JOBS=$(INTEROP_JOBS) tests/interop/guest_grid.sh > $(BUILD)/interop/guests.txt || rc=1; \
			cat $(BUILD)/interop/guests.txt; \
		else : > $(BUILD)/interop/guests.txt; fi; \
		python3 tests/interop/report.py -o docs/interop.md $(BUILD)/interop/net.txt $(BUILD)/interop/guests.txt && \
		echo "interop: wrote docs/interop.md" || rc=1; \
		awk '$$1 == "CELL" { n[$$6]++ } END { printf "interop: %d passed, %d failed, %d skipped\n", n["PASS"], n["FAIL"], n["SKIP"] }' \
			$(BUILD)/interop/net.txt $(BUILD)/interop/guests.txt; exit $$rc
# ---- end of the version grid ------------------------------------------------------

clean:
	rm -rf build build-san build-clang build-fuzz

-include $(shell find $(BUILD) -name '*.d' -type f -not -path '$(BUILD)/guest*' 2>/dev/null)
