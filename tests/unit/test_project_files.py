"""Files that must agree with the code: per-deployable requirements and the generated MySQL schema."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from annotation_core.schema import mysql_ddl

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEPLOYABLES = {
    "web_app/requirements.txt": "web",
    "lambda_functions/annotation_lambda/requirements.txt": "annotation",
    "lambda_functions/thumbnail_lambda/requirements.txt": "thumbnail",
}


def requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(("path", "extra"), DEPLOYABLES.items())
def test_requirements_file_is_the_core_list_plus_its_extra(path, extra):
    expected = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"][extra]
    assert sorted(requirement_lines(ROOT / path)) == sorted(expected)


def test_requirements_dev_is_the_dev_extra_without_the_project_itself():
    tools = [
        req for req in PYPROJECT["project"]["optional-dependencies"]["dev"] if not req.startswith("image-annotation")
    ]
    assert sorted(requirement_lines(ROOT / "requirements-dev.txt")) == sorted(tools)


@pytest.mark.parametrize("path", [*DEPLOYABLES, "requirements-dev.txt"])
def test_requirements_comments_name_files_that_exist(path):
    named = re.findall(r"[\w/.-]+\.(?:py|toml|txt)\b", (ROOT / path).read_text())
    assert named, f"{path} says nothing about where its list comes from"
    assert [name for name in named if not (ROOT / name).is_file()] == []


def test_every_dependency_has_a_lower_bound():
    project = PYPROJECT["project"]
    for requirement in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        if requirement.startswith("image-annotation-system"):
            continue
        assert re.search(r">=\s*\d", requirement), f"{requirement} has no lower bound"


def test_committed_schema_sql_is_generated_from_the_table():
    assert (ROOT / "database" / "schema.sql").read_text() == mysql_ddl(), "run `make schema`"
