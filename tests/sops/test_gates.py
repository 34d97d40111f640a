import polars as pl
import pytest

from pipeline.errors import SopError
from pipeline.sops.gates import (
    Comparison,
    Junction,
    condition_expr,
    condition_fields,
    parse_condition,
)

SYNTAX = (
    "expected a condition like `amount > 200` (field op literal, op one of > >= < <= == !=, "
    "text literals quoted), joined by and/or"
)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("amount > 200", Comparison("amount", ">", 200.0)),
        ("amount>=-1.5e2", Comparison("amount", ">=", -150.0)),
        ("tier == 'gold'", Comparison("tier", "==", "gold")),
        ('order.total != "x y"', Comparison("order.total", "!=", "x y")),
        (
            "a < 1 and b <= 2 or c == 3",
            Junction(
                "or",
                (
                    Junction("and", (Comparison("a", "<", 1.0), Comparison("b", "<=", 2.0))),
                    Comparison("c", "==", 3.0),
                ),
            ),
        ),
        (
            "a < 1 AND (b <= 2 or c == 3)",
            Junction(
                "and",
                (
                    Comparison("a", "<", 1.0),
                    Junction("or", (Comparison("b", "<=", 2.0), Comparison("c", "==", 3.0))),
                ),
            ),
        ),
        ("((amount > 1))", Comparison("amount", ">", 1.0)),
    ],
)
def test_parse_condition(text, tree):
    assert parse_condition(text) == tree


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a field name, found the end"),
        ("amount >", "expected a number or a quoted string, found the end"),
        ("amount 200", "expected a comparison operator after 'amount', found '200'"),
        ("amount = 200", "cannot read '= 200'"),
        ("amount > 200 and", "expected a field name, found the end"),
        ("(amount > 200", "expected ')'"),
        ("amount > 200)", "unexpected ')'"),
        ("200 < amount", "expected a field name, found '200'"),
        ("amount > two", "expected a number or a quoted string, found 'two'"),
        ("__import__('os').system('x')", "cannot read \".system('x')\""),
        ("tier == 'gold", 'cannot read "\'gold"'),
        ("query succeeded", "expected a comparison operator after 'query', found 'succeeded'"),
    ],
)
def test_parse_condition_rejects(text, problem):
    with pytest.raises(SopError) as info:
        parse_condition(text)
    message = str(info.value)
    assert message == f"condition {text!r}: {problem}; {SYNTAX}"


@pytest.mark.parametrize(
    ("text", "values", "outcome"),
    [
        ("amount > 200", {"amount": "250"}, True),
        ("amount > 200", {"amount": "200"}, False),
        ("amount >= 200", {"amount": "200"}, True),
        ("amount < 200", {"amount": None}, None),
        ("amount < 200", {"amount": "lots"}, None),
        ("amount == 3", {"amount": "3.0"}, True),
        ("tier == 'gold'", {"tier": "gold"}, True),
        ("tier != 'gold'", {"tier": "gold"}, False),
        ("tier != 'gold'", {"tier": None}, None),
        ("a > 1 and b > 1", {"a": "5", "b": None}, None),
        ("a > 1 and b > 1", {"a": "0", "b": None}, False),
        ("a > 1 or b > 1", {"a": "5", "b": None}, True),
        ("a > 1 or b > 1", {"a": "0", "b": None}, None),
    ],
)
def test_condition_expr_uses_three_valued_logic(text, values, outcome):
    condition = parse_condition(text)
    assert condition_fields(condition) == set(values)
    frame = pl.DataFrame(
        {k: [v] for k, v in values.items()}, schema=dict.fromkeys(values, pl.String)
    )
    assert frame.select(condition_expr(condition, {k: k for k in values})).item() is outcome


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("amount > 1", {"amount"}),
        ("a.b > 1 or (c == 'x' and a.b < 9)", {"a.b", "c"}),
    ],
)
def test_condition_fields(text, fields):
    assert condition_fields(parse_condition(text)) == fields


def test_condition_expr_reads_the_mapped_columns():
    condition = parse_condition("order.total >= 50 and tier == 'gold'")
    frame = pl.DataFrame(
        {"_field0": ["60", "60", "10"], "_field1": ["gold", "silver", "gold"]},
        schema={"_field0": pl.String, "_field1": pl.String},
    )
    columns = {"order.total": "_field0", "tier": "_field1"}
    assert frame.select(condition_expr(condition, columns)).to_series().to_list() == [
        True,
        False,
        False,
    ]


def test_condition_expr_does_not_modify_its_columns():
    columns = {"amount": "meta_amount"}
    condition_expr(parse_condition("amount > 200 or amount == 5"), columns)
    assert columns == {"amount": "meta_amount"}
