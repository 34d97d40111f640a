"""Identity numbers and codes: typed by their cue, amounts and years left alone."""

import pytest

from pipeline.ingest.identity.rules import label_tokens


def labels(text: str, **kwargs) -> list[str | None]:
    return label_tokens(text.split(), **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssn 4410", [None, "ssn"]),
        ("7731", ["id"]),
        ("abc 567890345", ["id", "id"]),
        ("f 6 el 23", ["id"] * 4),  # letters and digits alternating
        ("booking number is jf 27 wq", [None, None, None, "id", "id", "id"]),
        ("9854215475", ["phone"]),  # 10 bare digits
        ("my card number is 4111 1111 1111 1112", [None] * 4 + ["card"] * 4),
        ("account no 9920", [None, None, "id"]),
        ("we 4562", ["id", "id"]),  # a whole turn of letters and digits is one code
        ("its 5749", [None, "id"]),  # ... but not the words that open an answer
    ],
)
def test_codes(text: str, expected: list) -> None:
    assert labels(text) == expected


def test_the_question_asked_types_a_bare_number() -> None:
    assert labels("its 7731", asked="card") == [None, "card"]


@pytest.mark.parametrize(
    "text",
    [
        "2 medium coke",  # a quantity
        "under 300 dollars",  # an amount
        "at 530 pm",  # a time
        "manufactured in the year 2015",  # a year
        "seat k 1",  # too few digits
        "a banking77 row",  # a name with digits
    ],
)
def test_look_alikes_stay(text: str) -> None:
    assert labels(text) == [None] * len(text.split())
