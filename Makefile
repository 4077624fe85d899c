# One entry point for humans and CI. Every target bootstraps .venv by itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# One venv; each stamp records which extras it holds, so that `make serve` installs
# only the relay, `make chat` only the chat app, and the checks and tests everything
# (the dev extra pulls in both). A changed pyproject.toml reinstalls.
DEV := $(VENV)/.hearth-dev
RELAY := $(VENV)/.hearth-relay
CHAT := $(VENV)/.hearth-chat

# The TypeScript SDK (js/) is type-checked by `make check` and tested by `make test`
# (tests/js) wherever Node.js 20+ is installed, and skipped with a line saying so
# elsewhere. Its dependencies come from js/package-lock.json alone: `npm ci` runs
# when js/node_modules is missing or older than the lockfile (npm writes the stamp
# last). NODE_OK is empty without a usable Node.
NODE_OK := $(shell node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null && echo yes)
JSDEPS := js/node_modules/.package-lock.json

.PHONY: serve chat screens web test check check-js bench bench-quick bench-scaleout vectors format clean lock audit

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEV): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV) $(RELAY) $(CHAT)

$(RELAY): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[relay]'
	touch $(RELAY)

$(CHAT): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[chat]'
	touch $(CHAT)

serve: $(RELAY)
	$(VENV)/bin/hearth serve $(ARGS)

# The reference terminal app against a relay: make chat ARGS="--relay URL --profile DIR".
chat: $(CHAT)
	$(VENV)/bin/hearth chat $(ARGS)

# SVG screenshots of the chat app's main screens, against a relay this starts itself;
# with Node.js 20+ and Chromium, phone-size PNGs of the web app's (docs/screens/web-*.png).
screens: $(DEV) $(if $(NODE_OK),$(JSDEPS))
	$(PY) scripts/screens.py --out docs/screens
	$(if $(NODE_OK),cd js/web && ../node_modules/.bin/vitest run -c vitest.screens.config.ts,@echo "no Node.js 20+: the web app's screenshots are not made")

# The web app the relay serves at / (server/web, in the Python package, so that
# `make serve` needs no Node): rebuilt from js/web and js/sdk's sources after any
# change to them; tests/test_web_app.py fails while the copy differs from a build.
web: $(JSDEPS)
	cd js/web && node scripts/build.mjs --out ../../server/web

$(JSDEPS): js/package-lock.json
	cd js && npm ci --no-audit --no-fund
	touch $(JSDEPS)

test: $(DEV) $(if $(NODE_OK),$(JSDEPS))
	$(PY) -m pytest $(ARGS)

check: $(DEV) check-js
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy

# The SDK with its tests (Node types), then its source alone as a browser loads it
# (no Node types: a Node-only API in js/sdk/src fails here), then the web app (js/web).
check-js: $(if $(NODE_OK),$(JSDEPS))
ifeq ($(NODE_OK),yes)
	cd js/sdk && ../node_modules/.bin/tsc -p tsconfig.json --noEmit
	cd js/sdk && ../node_modules/.bin/tsc -p tsconfig.build.json --noEmit
	cd js/web && ../node_modules/.bin/tsc -p tsconfig.json --noEmit
else
	@echo "make check: TypeScript SDK type check skipped: Node.js 20+ is not installed"
endif

# The full relay workload takes about 30 minutes and installs nostr-relay into
# bench/.work/nostr-venv on first use; bench-quick is a two-minute sanity run.
# bench/sdk_js.py measures the TypeScript SDK beside the Python core (needs Node 20+);
# bench/web.py the web app in headless Chromium (first-load bytes, time to the crisis
# screen, a 10,000-message catch-up in a browser tab; needs Node 20+ and Chromium,
# about three minutes; `bench/web.py --catchup 500` is its quick run). Each says so
# and skips without what it needs.
# bench/reconnect.py (100 clients across a graceful restart and a crash, about a
# minute) runs last; `bench/reconnect.py --quick` is its sanity run.
bench: $(DEV) $(if $(NODE_OK),$(JSDEPS))
	$(PY) bench/protocol.py
	$(PY) bench/sdk_js.py
	$(PY) bench/web.py
	$(PY) bench/relay.py $(ARGS)
	$(PY) bench/reconnect.py

bench-quick: $(DEV)
	$(PY) bench/relay.py --quick $(ARGS)

# Two relays on PostgreSQL + Redis beside one on SQLite (needs both services; not in CI).
bench-scaleout: $(DEV)
	$(PY) bench/scaleout.py $(ARGS)

vectors: $(DEV)
	$(PY) scripts/make_vectors.py --write

# requirements.lock pins every installed package; `make audit` checks it against
# PyPI's vulnerability data (it needs pypi.org's JSON API or api.osv.dev: a
# registry mirror without them reports every package as "not found").
lock: $(DEV)
	{ echo "# Locked runtime and dev dependencies of .venv (make lock regenerates; make audit checks them)."; \
	  echo "# Produced by: pip list --format=freeze --exclude-editable"; \
	  $(PY) -m pip list --format=freeze --exclude-editable; } > requirements.lock

# pip-audit lives in its own venv so that it never enters the lock it audits.
audit:
	test -x .venv-audit/bin/pip-audit || { $(PYTHON) -m venv .venv-audit && \
	  .venv-audit/bin/pip install --quiet pip-audit; }
	.venv-audit/bin/pip-audit --strict --requirement requirements.lock --no-deps --disable-pip

format: $(DEV)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .venv-audit .mypy_cache .pytest_cache .ruff_cache .hypothesis
