# Two commands for a newcomer: `make plan` and `make test`. Each installs what it needs:
# uv (into .tools/ when it is not already on PATH), then the locked environment in .venv.
# The everyday automation commands are targets too, on STACK (default dev) with extra flags in
# ARGS, e.g. `make rollback STACK=prod ARGS=--dry-run`: no venv to activate, no uv on PATH.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV_VERSION := 0.13.9
STACK ?= dev
ARGS ?=
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --locked --no-sync
# Pulumi's Python language host runs the program with the `uv` it finds on PATH (Pulumi.yaml:
# toolchain uv), so the commands that start Pulumi get the one `make setup` installed.
ON_PATH := PATH="$(CURDIR)/.tools/bin:$$PATH"
AUTOMATION := $(RUN) python -m automation
# The workflow linter: no network, the strictest persona, schema errors fatal; its findings are
# fixed or allowed with a reason in .github/zizmor.yml, and any new one fails `make lint`.
ZIZMOR_FLAGS := --offline --persona=auditor --strict-collection --no-progress --config .github/zizmor.yml

OFFLINE := cost check diagram report
CLOUD := preview up rollback outputs unlock

.PHONY: help setup plan test lint typecheck run fmt diagrams $(OFFLINE) $(CLOUD)

help:
	@echo "make plan [STACK=dev|prod]  offline plan of a stack (mock engine, no AWS, no Pulumi CLI)"
	@echo "make test                   lint + every test"
	@echo "make run                    the students API on http://localhost:8000 (embedded PostgreSQL)"
	@echo "Offline, on STACK (default dev), extra flags in ARGS (e.g. ARGS=--json):"
	@echo "  make cost | check | diagram   monthly estimate | policy rules | Mermaid diagram"
	@echo "  make report                   all three from one plan (exit 1 when a check fails)"
	@echo "  make diagrams                 regenerate the diagrams in docs/architecture.md"
	@echo "With AWS credentials and the Pulumi CLI, on STACK, extra flags in ARGS:"
	@echo "  make preview | up | rollback | outputs | unlock"
	@echo "Everything else: .venv/bin/python -m automation --help"

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: the shells and CI set PYTHONDONTWRITEBYTECODE, so without it every run
# compiled the provider SDKs again (seconds per plan). The stamp's name says so: a venv synced
# before it (stamped .synced) is synced again once, and gets the bytecode.
.venv/.synced-bytecode: uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --compile-bytecode
	@touch $@

# The project's own modules too (Python ignores a .pyc whose source changed since; this rule
# rewrites only those), so a plan does not compile infra/ and automation/ on every run.
SOURCES := $(shell find infra automation policy -name '*.py' -not -path '*/venv/*' 2>/dev/null)
.cache/bytecode: $(SOURCES) | .venv/.synced-bytecode
	@$(RUN) python -m compileall -q -x /venv/ infra automation policy
	@mkdir -p .cache && touch $@

setup: .venv/.synced-bytecode .cache/bytecode

plan: setup
	@$(AUTOMATION) plan --stack $(STACK) $(ARGS)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports
	$(RUN) hadolint app/Dockerfile
	$(RUN) zizmor $(ZIZMOR_FLAGS) .github/workflows

typecheck: setup
	$(RUN) mypy infra automation policy bootstrap bench $(wildcard app) tests

# Parallel workers (pytest-xdist); a module's tests stay on one worker, so its module fixtures
# (scratch repositories, plans) are built once. One worker more than there are cores: about a
# fifth of a worker's time goes to waiting (child processes, the app's servers, the cancel tests'
# real-time deadlines), which the extra worker fills; on 2 cores pytest took 126-131 s with 2
# workers, 107-114 s with 3. WORKERS=0 runs in this process.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
test: lint typecheck
	$(RUN) pytest -q -n $(WORKERS) --dist loadscope

fmt: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

run: setup
	$(RUN) python -m app

# Quiet (@), like plan: their output is often piped, e.g. `make check ARGS=--json > report.json`.
$(OFFLINE): setup
	@$(AUTOMATION) $@ --stack $(STACK) $(ARGS)

$(CLOUD): setup
	@$(ON_PATH) $(AUTOMATION) $@ --stack $(STACK) $(ARGS)

diagrams: setup
	$(AUTOMATION) diagram --stack dev --readme docs/architecture.md
	$(AUTOMATION) diagram --stack prod --readme docs/architecture.md
