# One entry point for humans and CI. Every target bootstraps .venv by itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hearth-installed

.PHONY: serve chat screens test check bench bench-quick bench-scaleout vectors format clean lock audit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,chat]'
	touch $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/hearth serve $(ARGS)

# The reference terminal app against a relay: make chat ARGS="--relay URL --profile DIR".
chat: $(STAMP)
	$(VENV)/bin/hearth chat $(ARGS)

# SVG screenshots of the chat app's main screens, against a relay this starts itself.
screens: $(STAMP)
	$(PY) scripts/screens.py --out docs/screens

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

check: $(STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy

# The full relay workload takes about 30 minutes and installs nostr-relay into
# bench/.work/nostr-venv on first use; bench-quick is a two-minute sanity run.
bench: $(STAMP)
	$(PY) bench/protocol.py
	$(PY) bench/relay.py $(ARGS)

bench-quick: $(STAMP)
	$(PY) bench/relay.py --quick $(ARGS)

# Two relays on PostgreSQL + Redis beside one on SQLite (needs both services; not in CI).
bench-scaleout: $(STAMP)
	$(PY) bench/scaleout.py $(ARGS)

vectors: $(STAMP)
	$(PY) scripts/make_vectors.py --write

# requirements.lock pins every installed package; `make audit` checks it against
# PyPI's vulnerability data (it needs pypi.org's JSON API or api.osv.dev: a
# registry mirror without them reports every package as "not found").
lock: $(STAMP)
	{ echo "# Locked runtime and dev dependencies of .venv (make lock regenerates; make audit checks them)."; \
	  echo "# Produced by: pip list --format=freeze --exclude-editable"; \
	  $(PY) -m pip list --format=freeze --exclude-editable; } > requirements.lock

# pip-audit lives in its own venv so that it never enters the lock it audits.
audit:
	test -x .venv-audit/bin/pip-audit || { $(PYTHON) -m venv .venv-audit && \
	  .venv-audit/bin/pip install --quiet pip-audit; }
	.venv-audit/bin/pip-audit --strict --requirement requirements.lock --no-deps --disable-pip

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .venv-audit .mypy_cache .pytest_cache .ruff_cache .hypothesis
