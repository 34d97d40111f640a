"""The report's SQL views: one ``create or replace view`` a file in ``reports/views``."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.errors import SchemaError

ROOT = Path(__file__).resolve().parents[2]
VIEWS_DIR = ROOT / "reports" / "views"

# The views the report reads, by the name their file creates.
REPORT_VIEWS = (
    "intent_overview",
    "intent_weekly",
    "workflow_conformance",
    "step_deviations",
    "team_conformance",
    "drift_findings_ranked",
    "readiness_leaderboard",
    "data_quality",
    "process_edges",
    "leaders_capacity",
    "conformance_audit",
    "finding_examples",
    "unranked_workflows",
)
_VIEW_FILE = re.compile(r"^\d+_(?P<name>[a-z][a-z0-9_]*)\.sql$")
_CREATE_VIEW = re.compile(r"\bcreate\s+or\s+replace\s+view\s+(?P<name>[A-Za-z_]\w*)", re.I)
_COMMENT = re.compile(r"--[^\n]*")


def view_statements(views_dir: Path = VIEWS_DIR) -> list[tuple[str, str]]:
    """Return ``(view name, SQL)`` of each ``NN_name.sql`` file, sorted by file name.

    Raises
    ------
    SchemaError
        A file is not named ``NN_name.sql``, or does not hold exactly one
        ``create or replace view name`` (comments aside) for the name in its file name.
    """
    statements = []
    for path in sorted(Path(views_dir).glob("*.sql")):
        named = _VIEW_FILE.match(path.name)
        if named is None:
            raise SchemaError(
                f"{path}: a view file must be named NN_name.sql (digits, '_', a lower-case "
                "name); rename it"
            )
        sql = path.read_text(encoding="utf-8")
        found = _CREATE_VIEW.findall(_COMMENT.sub("", sql))
        if len(found) != 1 or found[0].lower() != named["name"]:
            raise SchemaError(
                f"{path}: expected exactly one 'create or replace view {named['name']} as ...', "
                f"found {len(found)} view statement(s) {found}; one view a file, named as the file"
            )
        statements.append((named["name"], sql))
    return statements
