"""The units of step extraction: agent turns and action events in call order."""

from steps.extract_cases import BALANCE_CALL, frame

from pipeline.steps.units import agent_units


def test_units_are_agent_turns_and_actions_in_order():
    units = agent_units(frame(BALANCE_CALL).reverse())
    assert units["turn_idx"].to_list() == [1, 3, 4, 5, 6, 7]
    assert units["seq"].to_list() == list(range(6))
    assert units["text"].to_list()[:2] == ["Can you tell me your account number?", None]
