"""Playbooks governed like code: a diff in words, and a changed procedure needs a version."""

import dataclasses

import yaml

from pipeline.cli.main import main
from pipeline.playbook.govern import bundle_version_problem, diff_playbooks, version_problem
from pipeline.sops.model import Risk, Sop, Step, content_hash, sop_to_yaml

OLD = Sop(
    "refund", 1, ("refund",),
    (Step("verify", action="crm.verify"), Step("lookup", after=("verify",)),
     Step("pay", action="billing.refund", after=("lookup",))),
)  # fmt: skip


def edited(**changes):
    steps = [dataclasses.replace(s, **changes.get(s.id, {})) for s in OLD.steps]
    return dataclasses.replace(OLD, steps=tuple(steps))


def test_the_diff_names_each_change_in_words():
    new = dataclasses.replace(
        edited(verify={"mandatory": False}, pay={"action": "billing.refund_v2"}),
        version=2, risk=Risk(moves_money=True), approved_by="ops lead",
    )  # fmt: skip
    new = dataclasses.replace(new, steps=(*new.steps, Step("approve", when="amount > 200")))
    assert diff_playbooks(OLD, new) == [
        "version 1 -> 2",
        "step added: approve (approval gate when amount > 200)",
        "verify: mandatory -> discretionary",
        "pay: tool billing.refund -> billing.refund_v2",
        "risk moves money: no -> yes",
        "approved by: - -> ops lead",
    ]
    assert diff_playbooks(OLD, OLD) == []


def test_a_changed_procedure_needs_a_higher_version():
    assert version_problem(OLD, dataclasses.replace(OLD, description="reworded")) is None
    changed = edited(lookup={"mandatory": False})
    assert "raise the version" in version_problem(OLD, changed)
    assert version_problem(OLD, dataclasses.replace(changed, version=2)) is None


def test_a_bundle_holds_its_edited_playbook_to_the_hash_it_was_exported_with():
    exported = dataclasses.replace(OLD, observed={"content_hash": content_hash(OLD),
                                                  "exported_version": 1})  # fmt: skip
    assert bundle_version_problem(exported) is None
    edit = dataclasses.replace(exported, steps=OLD.steps[:2])
    assert "changed since it was exported" in bundle_version_problem(edit)
    assert bundle_version_problem(dataclasses.replace(edit, version=2)) is None
    assert bundle_version_problem(OLD) is None  # written by hand: nothing recorded


def test_the_diff_command_exits_1_on_a_version_error(tmp_path, capsys):
    (tmp_path / "old.yaml").write_text(sop_to_yaml(OLD))
    data = yaml.safe_load(sop_to_yaml(OLD))
    data["steps"] = data["steps"][:2]
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(data))
    assert main(["playbook", "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")]) == 1
    captured = capsys.readouterr()
    assert "step removed: pay (mandatory)" in captured.out
    assert "invalid playbook version" in captured.err
    data["version"] = 2
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(data))
    assert main(["playbook", "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")]) == 0
