# exeseal — the two set-up commands are `make demo` and `make test` (as root,
# on a fresh Debian machine); everything they need is installed by scripts/deps.sh.
# Static-PIE builds for the host target: see scripts/build-env.sh.
SH := set -e; . scripts/build-env.sh;

.PHONY: all build test demo bench syscalls exec-bench mounts-bench adopt-youki conformance e2e install uninstall clean

all: build

build:
	scripts/deps.sh
	$(SH) cargo build --release --workspace --locked

# Every test: the dmz shim's own checks (cargo's standalone build, then the
# smaller shim exeseal embeds, which carries the size budget), then all
# crates' unit and root integration tests (each integration test checks for
# root and says SKIP when it cannot run). Not on top of `build`: tests need panic=unwind, so a
# release build first would compile every dependency twice; `cargo test`
# builds the binaries the tests run (sealrun, memfd-bind, sealmount) itself.
test:
	scripts/deps.sh
	$(SH) cargo build --release -p dmz -p exeseal --bin dmz --bin exeseal-probe --locked && \
	  bash crates/dmz/tests/run.sh --unstripped "$$BIN_DIR/dmz" && \
	  "$$BIN_DIR/exeseal-probe" dmz-write "$$BIN_DIR/dmz-embedded" && chmod 0755 "$$BIN_DIR/dmz-embedded" && \
	  bash crates/dmz/tests/run.sh "$$BIN_DIR/dmz-embedded"
	bash scripts/conformance-check-test.sh
	$(SH) cargo test --release --workspace --locked
	bash scripts/install-test.sh

# runc v1.1.5's own integration suite against sealrun (../shared/conformance),
# judged by conformance/expected-failures.txt; PEERS=1 adds runc side by side,
# FILES="exec tty" runs only those .bats files.
conformance: build
	scripts/deps.sh --conformance
	bash scripts/conformance.sh $(if $(PEERS),--peers) $(FILES)

# docker, podman and containerd (Debian's, apt) driving a copy of sealrun
# and a copy of runc side by side, judged by e2e/expected-failures.txt
# (scripts/e2e.sh); E2E_ENGINES="docker ctr" runs some engines only,
# E2E_ONLY=REGEX some checks. Results in target/e2e/.
e2e: build
	scripts/deps.sh --e2e
	bash scripts/e2e-check-test.sh
	bash scripts/e2e.sh

# Binaries into $(DESTDIR)$(PREFIX)/bin, memfd-bind's and sealmount's units
# into $(DESTDIR)$(UNITDIR) (see README: "Use it with docker, podman, ...").
PREFIX ?= /usr/local
UNITDIR ?= /etc/systemd/system
install: build
	$(SH) BIN_DIR="$$BIN_DIR" PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" UNITDIR="$(UNITDIR)" bash scripts/install.sh install

uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" UNITDIR="$(UNITDIR)" bash scripts/install.sh uninstall

demo: build
	bash scripts/demo.sh

# `<runtime> run -b bundle ctr` for every mode in one hyperfine run
# (bench/RESULTS.md); `make bench PEERS=1` adds runc, crun and youki 0.7.0.
bench: build
	bash bench/run.sh $(if $(PEERS),--peers)

# fork+exec cost of a ~10 MiB binary, directly vs through each strategy.
exec-bench: build
	scripts/deps.sh --bench
	bash bench/exec-cost.sh

# Syscalls of one `sealrun --seal none run`, by owner (bench/syscalls.md).
syscalls:
	scripts/deps.sh
	bash bench/syscalls.sh

# `sealrun run` per mode with 2000 extra mounts (bench/mounts.md).
mounts-bench: build
	scripts/deps.sh --bench
	bash bench/mounts.sh

# youki 0.7.0 built from crates.io three ways (pentacle as published, exeseal
# via bench/adopt-youki/exeseal.patch, unsealed control) into
# target/adopt-youki/bin; `run` timed against sealrun (bench/interleave.py),
# CVE-2019-5736 against a copy of each (bench/adopt-youki-attack.sh).
# Writes bench/adopt-youki.md; ROUNDS=N (default 200).
adopt-youki:
	bash bench/adopt-youki.sh

clean:
	cargo clean
