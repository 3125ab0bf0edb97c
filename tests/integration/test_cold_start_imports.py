"""A Lambda's cold start imports only what its handler needs: heavy modules a job never uses stay unloaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = (
    "lambda_functions.annotation_lambda.lambda_function",
    "lambda_functions.thumbnail_lambda.lambda_function",
)
# Each is loaded on first use: libmagic sniffs uploads only (web tier); boto3 builds S3/EventBridge clients
# only on AWS; a provider SDK only when its provider is chosen; Flask and Alembic belong to the web tier.
LAZY = ("magic", "boto3", "google.genai", "openai", "flask", "alembic")


def imported_after(module: str) -> set[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_import_leaves_heavy_modules_for_first_use(handler):
    loaded = imported_after(handler)
    assert handler in loaded
    assert sorted(name for name in LAZY if name in loaded) == []
