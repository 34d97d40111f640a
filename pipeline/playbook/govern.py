"""Playbooks governed like code: what changed between two versions, and the version rule.

A playbook prescribes its steps (their order, kinds, decisions, tool bindings and approval
gates) and its risk flags; :func:`pipeline.sops.model.content_hash` hashes exactly that.
A change to what it prescribes needs a higher version: :func:`version_problem` says when
it is missing, between two playbooks (``cxminer playbook diff``) and within one bundle
(the hash and version recorded at export, in ``observed``, against the playbook as
edited). :func:`diff_playbooks` says what changed, in words.
"""

from __future__ import annotations

from pipeline.sops.model import Sop, Step, content_hash


def diff_playbooks(old: Sop, new: Sop) -> list[str]:
    """Return the changes from ``old`` to ``new`` in words, one per line; empty when none."""
    lines = []
    if old.sop_id != new.sop_id:
        lines.append(f"playbook id {old.sop_id} -> {new.sop_id}")
    if old.version != new.version:
        lines.append(f"version {old.version} -> {new.version}")
    before, after = {s.id: s for s in old.steps}, {s.id: s for s in new.steps}
    lines += [f"step added: {s} ({after[s].decision})" for s in after if s not in before]
    lines += [f"step removed: {s} ({before[s].decision})" for s in before if s not in after]
    for step_id in (s for s in after if s in before):
        lines += _step_changes(before[step_id], after[step_id])
    kept = [s for s in after if s in before]
    if [s for s in before if s in after] != kept:
        lines.append("step order: " + " > ".join(kept))
    for flag in ("moves_money", "regulated"):
        was, now = getattr(old.risk, flag), getattr(new.risk, flag)
        if was != now:
            lines.append(f"risk {flag.replace('_', ' ')}: {_yes(was)} -> {_yes(now)}")
    for key in ("approved_by", "approved_at"):
        if getattr(old, key) != getattr(new, key):
            lines.append(f"{key.replace('_', ' ')}: {getattr(old, key) or '-'} -> "
                         f"{getattr(new, key) or '-'}")  # fmt: skip
    return lines


def _step_changes(old: Step, new: Step) -> list[str]:
    said = []
    if old.decision != new.decision:
        said.append(f"{new.id}: {old.decision} -> {new.decision}")
    if old.when != new.when:
        said.append(f"{new.id}: approval gate {old.when or 'none'} -> {new.when or 'none'}")
    if old.action != new.action:
        said.append(f"{new.id}: tool {old.action or 'none'} -> {new.action or 'none'}")
    if set(old.after) != set(new.after):
        said.append(f"{new.id}: after {', '.join(old.after) or 'nothing'} -> "
                    f"{', '.join(new.after) or 'nothing'}")  # fmt: skip
    if old.kind != new.kind:
        said.append(f"{new.id}: kind {old.kind} -> {new.kind}")
    return said


def version_problem(old: Sop, new: Sop) -> str | None:
    """Say why ``new`` needs a higher version than ``old``, or None when it needs none."""
    if content_hash(old) == content_hash(new) or new.version > old.version:
        return None
    return (f"{new.sop_id}: what the playbook prescribes changed (content hash "
            f"{content_hash(old)} -> {content_hash(new)}) but its version is {new.version}, "
            f"not above {old.version}: raise the version")  # fmt: skip


def bundle_version_problem(sop: Sop) -> str | None:
    """Say why a bundle's edited playbook needs a higher version than when it was exported.

    ``observed`` records the content hash and version at export; None when it does not
    (a playbook written by hand) or when the version rule holds.
    """
    exported, at = sop.observed.get("content_hash"), sop.observed.get("exported_version")
    if not exported or at is None or content_hash(sop) == exported or sop.version > int(at):
        return None
    return (f"{sop.sop_id}: what the playbook prescribes changed since it was exported "
            f"(content hash {exported} -> {content_hash(sop)}) but its version is still "
            f"{sop.version}: raise the version")  # fmt: skip


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
