"""The house rules, checked: import layers (import-linter), module size (tests too), docstrings."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 400
STAGES = ("ingest", "sops", "embed", "intents", "steps", "process", "outcomes", "drift",
          "readiness", "report", "export", "evaluate", "sample", "cli")  # fmt: skip


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_every_import_layer_contract_of_pyproject_is_kept():
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


def test_a_contract_that_real_imports_break_is_reported_broken(tmp_path):
    """The linter sees the real graph: the steps stage does read the intents package."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["pipeline", "flows"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "steps never import intents"\ntype = "forbidden"\n'
        'source_modules = ["pipeline.steps"]\nforbidden_modules = ["pipeline.intents"]\n'
    )
    result = lint_imports(str(config))
    assert result.returncode == 1
    assert "steps never import intents BROKEN" in result.stdout
    assert "pipeline.steps.run -> pipeline.intents.requests" in result.stdout


CODE = (*ROOT.glob("pipeline/**/*.py"), *ROOT.glob("flows/*.py"))
TESTS = (p for p in ROOT.glob("tests/**/*.py") if "fixtures" not in p.parts)  # not generators
MODULES = sorted(str(p.relative_to(ROOT)) for p in (*CODE, *TESTS))


@pytest.mark.parametrize("module", MODULES)
def test_no_module_is_longer_than_the_house_limit(module):
    lines = (ROOT / module).read_text().count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by noun"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_package_says_what_it_holds(stage):
    init = ROOT / "pipeline" / stage / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text()))
    assert docstring and len(docstring.split()) >= 8, f"{init}: no docstring"


def test_each_stage_has_one_flow_file_or_runs_inside_one():
    flows = {p.stem for p in (ROOT / "flows").glob("*.py")}
    runs_in_flows = {"ingest", "embed", "intents", "steps", "process", "outcomes", "drift",
                     "readiness", "report"}  # fmt: skip
    assert runs_in_flows <= flows
    assert flows - runs_in_flows == {"__init__", "nightly", "progress", "serve", "stages"}
