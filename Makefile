# Two commands for a newcomer: `make plan` and `make test`. Each installs what it needs:
# uv (into .tools/ when it is not already on PATH), then the locked environment in .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV_VERSION := 0.13.9
STACK ?= dev
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --locked --no-sync
# The workflow linter: no network, the strictest persona, schema errors fatal; its findings are
# fixed or allowed with a reason in .github/zizmor.yml, and any new one fails `make lint`.
ZIZMOR_FLAGS := --offline --persona=auditor --strict-collection --no-progress --config .github/zizmor.yml

.PHONY: help setup plan test lint typecheck run fmt

help:
	@echo "make plan [STACK=dev|prod]  offline plan of a stack (mock engine, no AWS, no Pulumi CLI)"
	@echo "make test                   lint + every test"
	@echo "make run                    the students API on http://localhost:8000 (embedded PostgreSQL)"

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked
	@touch $@

setup: .venv/.synced

plan: setup
	$(RUN) python -m automation plan --stack $(STACK)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports
	$(RUN) hadolint app/Dockerfile
	$(RUN) zizmor $(ZIZMOR_FLAGS) .github/workflows

typecheck: setup
	$(RUN) mypy infra automation policy bootstrap $(wildcard app) tests

test: lint typecheck
	$(RUN) pytest -q

fmt: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

run: setup
	$(RUN) python -m app
