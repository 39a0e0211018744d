# The two commands: `make run` starts the service on embedded defaults; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean image lock

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/notifier run

test: $(STAMP)
	bash scripts/test

lint: $(STAMP)
	$(BIN)/ruff check notifier tests bench
	$(BIN)/ruff format --check notifier tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

# The container image (needs a Docker daemon: not available on the development machines).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
IMAGE ?= notifier
image:
	docker build -f deploy/Dockerfile \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) \
		-t $(IMAGE):$(VERSION) .

# deploy/requirements.lock, which the image installs from.
lock: $(STAMP)
	bash scripts/lock

clean:
	rm -rf $(VENV) var
