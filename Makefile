# hubsync — run `make help` for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export DATABASE_URL ?= postgres://hubsync:hubsync@127.0.0.1:5432/hubsync
export AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/%2f
CARGO ?= cargo

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: services
services: ## make PostgreSQL and RabbitMQ answer on 127.0.0.1 (installs them if absent)
	@scripts/services.sh

.PHONY: build
build: ## build every crate (debug)
	$(CARGO) build --workspace --all-targets

.PHONY: fmt
fmt: ## format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: services ## bring the services up, then run the whole test suite
	$(CARGO) test --workspace --all-targets --no-fail-fast

.PHONY: demo
demo: ## the main job: services, simulated portal, connect, full + incremental sync by 2 workers, report
	@scripts/demo.sh

.PHONY: bench-sim
bench-sim: ## simulator benchmark: generate 100,000 records and page through them (release)
	$(CARGO) bench -p hubspot-sim --bench generate

.PHONY: sim
sim: ## run the HubSpot simulator with seed 1 on 127.0.0.1:8089
	$(CARGO) run -p hubspot-sim -- --addr 127.0.0.1:8089 --seed 1
