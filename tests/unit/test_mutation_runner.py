"""tests/mutation.py, which `make mutation` runs: which mutants and which tests each module gets."""

from __future__ import annotations

from tests import mutation
from tests.mutation import SELECTION, default_modules, mutant_pattern


def test_every_module_of_the_core_and_both_job_packages_is_mutated_and_nothing_else():
    modules = default_modules()
    assert "annotation_core/lifecycle.py" in modules
    assert "lambda_functions/annotation_lambda/gemini_provider.py" in modules
    assert "lambda_functions/thumbnail_lambda/thumbnailer.py" in modules
    assert not [module for module in modules if module.endswith("__init__.py") or "local_worker" in module]


def test_a_modules_mutants_are_named_after_its_dotted_path():
    assert mutant_pattern("lambda_functions/thumbnail_lambda/thumbnailer.py") == (
        "lambda_functions.thumbnail_lambda.thumbnailer.*"
    )


def test_a_module_is_tried_against_its_own_tests_else_those_that_import_it_else_all():
    assert mutation.tests_for("annotation_core/settings.py") == ["tests/unit/test_settings.py"]
    assert mutation.tests_for("annotation_core/lifecycle.py") == [
        "tests/integration/test_lifecycle.py",
        "tests/integration/test_lambda_handlers.py",
    ]
    assert mutation.tests_for("lambda_functions/annotation_lambda/gemini_provider.py") == [
        "tests/integration/test_caption_providers.py"
    ]
    assert mutation.tests_for("annotation_core/imported_by_no_test.py") == SELECTION  # every module now has tests
    assert "--ignore=tests/unit/test_dockerfiles.py" in SELECTION
