# Two commands do all the set-up: `make run` starts the app, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint schema bench bench-quick loadtest backfill mutation checkov clean

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

bench: $(INSTALLED)  ## measure renditions (against libvips), upload memory, ingest, Lambda cold starts and gallery queries over a million rows; writes docs/benchmarks.md
	$(BIN)/python -m benchmarks

bench-quick: $(INSTALLED)  ## a smoke run of every benchmark on small inputs (what CI checks); page in benchmarks/results/
	$(BIN)/python -m benchmarks --quick

loadtest: $(INSTALLED)  ## 500 uploads from 32 clients through gunicorn on 127.0.0.1, then check none was lost (SQLite; MySQL too with TEST_MYSQL_URL; ARGS="--uploads 300")
	$(BIN)/python -m benchmarks.loadtest $(ARGS)

backfill: $(INSTALLED)  ## re-caption images whose caption is missing or stale (ARGS="--dry-run" to count)
	$(BIN)/flask --app web_app.app captions backfill $(ARGS)

mutation: $(INSTALLED)  ## mutation testing with mutmut, module by module (MODULES="annotation_core/settings.py ..." to pick; ARGS=--survivors)
	$(BIN)/python -m tests.mutation $(ARGS) $(MODULES)

# checkov's dependencies clash with ours (it pins older boto3, botocore and packaging), so it has a
# virtualenv of its own, made once; tests/unit/test_security_posture.py makes it through this target too.
CHECKOV_VENV := .tools/checkov
CHECKOV_SPEC := checkov>=3.3.30

checkov: $(CHECKOV_VENV)/.installed  ## scan the CloudFormation stacks in deployment/ with checkov (installed in .tools/checkov)
	$(CHECKOV_VENV)/bin/checkov --directory deployment --framework cloudformation --skip-download --compact

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet '$(CHECKOV_SPEC)'
	touch $@

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache *.egg-info
