# Steward: `make run` sets up, builds and opens the console; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test deps deps-test ui build lint unit keychain e2e package package-test appimage bench clean fuzz

# The console people use is the optimized build (the first build takes several minutes).
run: deps ui
	$(CARGO) build --release -p steward-desktop -p steward
	target/release/steward-desktop

test: deps-test build lint unit keychain e2e
	$(MAKE) fuzz FUZZ_SECONDS=15
	$(MAKE) package PROFILE=debug
	$(MAKE) package-test

deps:
	bash scripts/deps.sh

deps-test:
	bash scripts/deps.sh --test

ui:
	cd ui && npm run build

# The desktop binary embeds ui/dist, so the UI is built first.
build: ui
	$(CARGO) build --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd ui && npm run check

# The whole suite on SQLite, then the integration suite again on PostgreSQL, in one
# throwaway cluster (the team-database tests run on both passes).
unit:
	bash scripts/pg-cluster.sh run bash -c '$(CARGO) test --workspace && \
	  STEWARD_TEST_ENGINE=postgres $(CARGO) test --test it'

# The signing key in a real Secret Service (gnome-keyring in a private D-Bus session).
keychain:
	bash scripts/keychain-test.sh

e2e:
	bash scripts/e2e.sh

# Every parser of untrusted input under AFL++ (afl.rs, stable toolchain), FUZZ_SECONDS a
# target; `make test` runs a short round. A crash or a hang fails.
FUZZ_SECONDS ?= 600
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

# The .deb (Tauri's bundler, pinned in ui/package.json): the console, its menu entry and icon,
# and the steward CLI, copied to dist/ under Debian's name for it. `make test` packages the
# debug build it has already compiled (PROFILE=debug): the same files, without a second,
# optimized compile of every crate.
TAURI := ui/node_modules/.bin/tauri
PROFILE ?= release
VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
package: deps ui
ifeq ($(PROFILE),release)
	$(CARGO) build --release -p steward
	$(TAURI) build --bundles deb --ci
else
	$(CARGO) build -p steward
	$(TAURI) build --debug --bundles deb --ci \
	  --config '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/steward":"../target/debug/steward"}}}}}'
endif
	mkdir -p dist
	cp target/$(PROFILE)/bundle/deb/Steward_$(VERSION)_amd64.deb dist/steward_$(VERSION)_amd64.deb

# Installs the .deb, tries the installed CLI and window, and removes it (needs root or sudo).
package-test:
	bash scripts/package-test.sh

# Tauri's bundler fetches the AppImage tools from their GitHub releases on first use.
appimage: deps ui
	$(CARGO) build --release -p steward
	$(TAURI) build --bundles appimage --ci
	mkdir -p dist
	cp target/release/bundle/appimage/Steward_$(VERSION)_amd64.AppImage dist/

bench:
	bash scripts/bench.sh
	$(CARGO) bench --bench scope_parse
	$(CARGO) bench --bench json_kept
	bash scripts/bench-evidence.sh
	bash scripts/bench-usage.sh
	CLIENTS=9000 bash scripts/bench-usage.sh
	bash scripts/bench-team.sh
	bash scripts/bench-connect.sh
	bash scripts/bench-window.sh

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules dist
