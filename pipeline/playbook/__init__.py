"""Playbook bundles (on demand, after readiness): a procedure an agent can run, signed off.

A workflow's playbook, with the tests and monitors mined from its conversations.

:func:`pipeline.playbook.cases.mine_cases` mines golden cases and known deviations,
:func:`pipeline.playbook.cases.replay` replays them against a playbook, and
:mod:`pipeline.playbook.bundle` writes the evidence and monitors. All pure;
:mod:`pipeline.playbook.run` is the only module of the stage that reads the store or
writes files.
"""

from pipeline.playbook.cases import DEVIATION, GOLDEN, Case, Outcome, mine_cases, replay

__all__ = ["DEVIATION", "GOLDEN", "Case", "Outcome", "mine_cases", "replay"]
