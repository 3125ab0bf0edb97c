# Two commands do all the set-up: `make run` starts the app, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint schema bench backfill clean

run: $(INSTALLED)  ## start the web app and its local worker on http://127.0.0.1:$PORT (default 5000)
	$(BIN)/gunicorn -c web_app/gunicorn.conf.py "web_app.app:create_app()"

test: $(INSTALLED)  ## lint, then every test (MySQL ones when TEST_MYSQL_URL is set, browser ones when Chromium is installed)
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(INSTALLED)  ## lint and format check (cfn-lint runs inside the tests)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: $(INSTALLED)  ## regenerate database/schema.sql from annotation_core/schema.py
	$(BIN)/python -m annotation_core.schema > database/schema.sql

bench: $(INSTALLED)  ## measure thumbnailing, ingest, Lambda cold starts and gallery queries over a million rows
	$(BIN)/python -m benchmarks

backfill: $(INSTALLED)  ## re-caption images whose caption is missing or stale (ARGS="--dry-run" to count)
	$(BIN)/flask --app web_app.app captions backfill $(ARGS)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
