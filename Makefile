# tickwire — `make help` lists the targets.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BUF    := node_modules/.bin/buf
PROTOS := $(wildcard protos/tickwire/v1/*.proto)
GEN    := clients/python
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help install lock lock-check proto proto-check lint buf-lint typecheck test soak check run clean bench bench-quick

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# uv, pinned, installs everything else: both distributions (editable, with
# their extras) and the dev tools, at the versions in requirements/lock.txt,
# hashes checked. The virtualenv is brought up to date whenever one of them changes.
UV_VERSION := 0.13.8
UV         := $(VENV)/bin/uv
UV_INSTALL := $(UV) pip install --quiet --python $(PY) \
	--constraints requirements/lock.txt --build-constraints requirements/lock.txt
PYPROJECTS := clients/python/pyproject.toml server/pyproject.toml

$(VENV)/.installed: $(PYPROJECTS) requirements/lock.txt requirements/dev.in
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(UV) --version 2>/dev/null | grep -qF ' $(UV_VERSION)' || $(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV_INSTALL) -e './clients/python[cli]' -e './server[testing]' -r requirements/dev.in
	touch $@

# buf (and later the Node peers) come pinned from package.json and package-lock.json
# (`npm install`, not `npm ci`: the lock holds only the platforms it was made on).
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed ## Create .venv and install everything the project needs

lock: $(VENV)/.installed ## Re-resolve requirements/lock.txt from the pyprojects and requirements/*.in
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--no-emit-package tickwire --no-emit-package tickwire-server \
		--custom-compile-command "make lock" -o requirements/lock.txt requirements/lock.in

lock-check: $(VENV)/.installed ## Fail when the lock no longer satisfies the pyprojects (or names an index)
	$(PY) requirements/check_lock.py

proto: $(VENV)/.installed ## Regenerate the Python code from protos/
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(GEN) --pyi_out=$(GEN) \
		--grpc_python_out=$(GEN) $(PROTOS)

proto-check: $(VENV)/.installed ## Fail when the committed generated code drifts from protos/
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(PY) -m grpc_tools.protoc -I protos --python_out=$$tmp --pyi_out=$$tmp \
		--grpc_python_out=$$tmp $(PROTOS) && \
	for f in $$(cd $$tmp && find . -name '*.py*' | sort); do \
		diff -u $(GEN)/$$f $$tmp/$$f || { echo "generated code is stale: run 'make proto'"; exit 1; }; \
	done && echo "generated code matches protos/"

buf-lint: node_modules/.installed ## Lint the contract with buf
	$(BUF) lint

lint: $(VENV)/.installed buf-lint ## ruff check, ruff format --check, buf lint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed ## mypy --strict on the server and the client, looser on tests/
	$(PY) -m mypy

test: install ## Run every test suite
	$(PY) -m pytest $(ARGS)

soak: install ## Attack a real server for minutes (< 10 min); figures in bench/results/soak.json
	SOAK=full $(PY) -m pytest tests/soak -o timeout=600 -p no:randomly -q $(ARGS)

check: lint typecheck proto-check lock-check test ## lint + typecheck + proto-check + lock-check + test

run: $(VENV)/.installed ## Serve the simulator on 127.0.0.1:50051, metrics on :9464 (ARGS="--port 6000")
	$(VENV)/bin/tickwire-server --metrics-port 9464 $(ARGS)

# The bench tools (FastAPI, uvicorn, httpx, matplotlib, psutil, uvloop) come on top.
$(VENV)/.installed-bench: $(VENV)/.installed requirements/bench.in
	$(UV_INSTALL) -r requirements/bench.in
	touch $@

bench: $(VENV)/.installed-bench ## Benchmark tickwire against its peers (< 10 min); ARGS="--only fanout"
	$(PY) -m bench $(ARGS)

bench-quick: $(VENV)/.installed-bench ## Smoke-run every benchmark scenario (a few seconds each)
	$(PY) -m bench --quick $(ARGS)

clean: ## Remove the virtualenv, node_modules and caches
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
