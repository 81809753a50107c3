# Steward: `make run` sets up, builds and opens the console; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test deps deps-test ui build lint unit keychain e2e bench clean

# The console people use is the optimized build (the first build takes several minutes).
run: deps ui
	$(CARGO) build --release -p steward-desktop -p steward
	target/release/steward-desktop

test: deps-test build lint unit keychain e2e

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

bench:
	bash scripts/bench.sh
	$(CARGO) bench --bench scope_parse
	bash scripts/bench-evidence.sh
	bash scripts/bench-usage.sh
	bash scripts/bench-team.sh
	bash scripts/bench-connect.sh
	bash scripts/bench-window.sh

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules
