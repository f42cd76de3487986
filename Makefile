# tickwire — `make help` lists the targets.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TS     := clients/typescript
NPM_TS := $(TS)/node_modules/.installed
NODE_PEER := bench/peers/node_ceiling
BUF    := $(TS)/node_modules/.bin/buf
PROTOS := $(wildcard protos/tickwire/v1/*.proto)
GEN    := clients/python
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: postgresql nats-server cluster help install lock lock-check proto proto-check lint buf-lint typecheck test test-python test-typescript soak check run web contract-release clean bench bench-quick

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
	$(UV_INSTALL) -e './clients/python[cli]' -e './server[testing,postgres,bus]' -r requirements/dev.in
	touch $@

# The TypeScript client's tools (buf, protoc-gen-es, tsc, Vite, playwright-core)
# come pinned from its package-lock.json (`npm install`, not `npm ci`: the lock
# holds only the platforms it was made on).
$(NPM_TS): $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && npm install --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's Chromium (playwright-core never downloads one).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium'

# The candle-history tests start their own PostgreSQL from Debian's server package.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql'

# The scale-out tests and `make cluster` run a real NATS server (Debian's, with JetStream).
nats-server:
	@command -v nats-server >/dev/null 2>&1 || \
		$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server'

install: $(VENV)/.installed $(NPM_TS) ## Create .venv and install everything the project needs

lock: $(VENV)/.installed ## Re-resolve requirements/lock.txt from the pyprojects and requirements/*.in
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--no-emit-package tickwire --no-emit-package tickwire-server \
		--custom-compile-command "make lock" -o requirements/lock.txt requirements/lock.in

lock-check: $(VENV)/.installed ## Fail when the lock no longer satisfies the pyprojects (or names an index)
	$(PY) requirements/check_lock.py

# TypeScript: protoc-gen-es from the package's lock, run by buf (clients/typescript/buf.gen.yaml).
TS_GENERATE = PATH="$(CURDIR)/$(TS)/node_modules/.bin:$$PATH" $(BUF) generate protos --template $(TS)/buf.gen.yaml

proto: $(VENV)/.installed $(NPM_TS) ## Regenerate the Python and TypeScript code from protos/
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(GEN) --pyi_out=$(GEN) \
		--grpc_python_out=$(GEN) $(PROTOS)
	rm -rf $(TS)/src/gen && $(TS_GENERATE) --output $(TS)

proto-check: $(VENV)/.installed $(NPM_TS) ## Fail when the committed generated code drifts from protos/
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(PY) -m grpc_tools.protoc -I protos --python_out=$$tmp --pyi_out=$$tmp \
		--grpc_python_out=$$tmp $(PROTOS) && \
	for f in $$(cd $$tmp && find . -name '*.py*' | sort); do \
		diff -u $(GEN)/$$f $$tmp/$$f || { echo "generated code is stale: run 'make proto'"; exit 1; }; \
	done && \
	$(TS_GENERATE) --output $$tmp/ts && \
	diff -ru $(TS)/src/gen $$tmp/ts/src/gen || { echo "generated TypeScript is stale: run 'make proto'"; exit 1; }; \
	echo "generated code matches protos/"

buf-lint: $(NPM_TS) ## Lint the contract with buf, and check it against the last release
	$(BUF) lint
	$(BUF) breaking protos --against $(BASELINE)

# The contract as last released: `buf breaking` compares protos/ against this
# image (no git history needed). Refresh it only when a release is cut.
BASELINE := protos/baseline.binpb
contract-release: $(NPM_TS) ## Record today's contract as the released baseline (only when cutting a release)
	$(BUF) build protos -o $(BASELINE)

lint: $(VENV)/.installed buf-lint ## ruff check, ruff format --check, buf lint, buf breaking
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed $(NPM_TS) ## mypy --strict (server, client; looser on tests/), tsc --noEmit (TypeScript)
	$(PY) -m mypy
	cd $(TS) && npm run --silent typecheck

test: test-python test-typescript ## Run every test suite

test-python: install postgresql nats-server $(NODE_PEER)/node_modules/.installed ## The Python suites (pytest; ARGS go to pytest; PostgreSQL tests included)
	$(PY) -m pytest $(ARGS)

test-typescript: install $(CHROMIUM) ## The TypeScript client's tests and the browser end-to-end tests
	cd $(TS) && npm run --silent web:build && npm test

soak: install ## Attack a real server for minutes (< 10 min); figures in bench/results/soak.json
	SOAK=full $(PY) -m pytest tests/soak -o timeout=600 -p no:randomly -q $(ARGS)

check: lint typecheck proto-check lock-check test ## lint + typecheck + proto-check + lock-check + test

run: $(VENV)/.installed ## Serve the simulator on 127.0.0.1:50051, metrics on :9464 (ARGS="--port 6000")
	$(VENV)/bin/tickwire-server --metrics-port 9464 $(ARGS)

cluster: install nats-server ## NATS, two ingests, two edges and Envoy on 127.0.0.1:8090, until Ctrl+C (ARGS="-- --source synthetic")
	$(PY) deploy/cluster.py $(ARGS)

web: install ## Serve the live page on http://127.0.0.1:8080 (tickwire + Envoy grpc-web + the page; ARGS as for run, WEB_ARGS="--origin URL")
	cd $(TS) && npm run --silent build && npm run --silent web:build
	node $(TS)/dist/stack/web.js $(WEB_ARGS) -- $(ARGS)

# The bench tools (FastAPI, uvicorn, httpx, matplotlib, psutil, uvloop) come on top.
$(VENV)/.installed-bench: $(VENV)/.installed requirements/bench.in
	$(UV_INSTALL) -r requirements/bench.in
	touch $@

# The Node.js ceiling peer's @grpc/grpc-js, pinned in its own package-lock.json
# (plain JavaScript, nothing native: `npm ci` installs exactly the lock).
$(NODE_PEER)/node_modules/.installed: $(NODE_PEER)/package.json $(NODE_PEER)/package-lock.json
	cd $(NODE_PEER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser scenario's readers are the TypeScript client, built to clients/typescript/dist.
bench: $(VENV)/.installed-bench $(NPM_TS) $(NODE_PEER)/node_modules/.installed nats-server ## Benchmark tickwire against its peers (about 20 min); ARGS="--only fanout"
	cd $(TS) && npm run --silent build
	$(PY) -m bench $(ARGS)

bench-quick: $(VENV)/.installed-bench $(NPM_TS) $(NODE_PEER)/node_modules/.installed ## Smoke-run every benchmark scenario (a few seconds each)
	cd $(TS) && npm run --silent build
	$(PY) -m bench --quick $(ARGS)

clean: ## Remove the virtualenv, node_modules and caches
	rm -rf $(VENV) $(TS)/node_modules $(TS)/dist $(TS)/web/dist $(NODE_PEER)/node_modules \
		.pytest_cache .mypy_cache .ruff_cache
