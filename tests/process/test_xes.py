import io
import xml.etree.ElementTree as ET
from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.errors import SchemaError
from pipeline.process.xes import XES_NAMESPACE, XesCounts, write_xes

NS = {"x": XES_NAMESPACE}

# Rows out of order on purpose: traces must come by case id, events by seq.
EVENTS = pl.DataFrame(
    {
        "conversation_id": ["c2", "c1", "c2", "c1", "c3"],
        "intent_id": ["billing", "refund", "billing", "refund", None],
        "seq": [1, 1, 0, 0, 0],
        "step_id": ["<script>&", "check", "greet", "verify", "greet"],
        "ts": [
            datetime(2026, 3, 1, 10, 0, 5),
            None,
            datetime(2026, 3, 1, 10, 0, 0),
            datetime(2026, 3, 1, 9, 0, 0, 250000),
            datetime(2026, 3, 2, 8, 0, 0),
        ],
    }
)


def xes_text(events=EVENTS, **kwargs):
    out = io.StringIO()
    counts = write_xes(events, out, **kwargs)
    return out.getvalue(), counts


def strings(element):
    """The element's direct <string>/<date> children as {key: value}."""
    return {child.get("key"): child.get("value") for child in element if child.get("key")}


def test_structure_and_counts():
    text, counts = xes_text()
    assert counts == XesCounts(traces=3, events=5)
    root = ET.fromstring(text)
    assert root.tag == f"{{{XES_NAMESPACE}}}log"
    assert root.get("xes.version") == "1849-2016"
    extensions = {e.get("prefix"): e.get("uri") for e in root.findall("x:extension", NS)}
    assert extensions == {
        "concept": "http://www.xes-standard.org/concept.xesext",
        "time": "http://www.xes-standard.org/time.xesext",
    }
    assert [g.get("scope") for g in root.findall("x:global", NS)] == ["trace", "event"]
    assert [(c.get("name"), c.get("keys")) for c in root.findall("x:classifier", NS)] == [
        ("Activity", "concept:name")
    ]
    traces = root.findall("x:trace", NS)
    assert [strings(t) for t in traces] == [
        {"concept:name": "c1", "intent_id": "refund"},
        {"concept:name": "c2", "intent_id": "billing"},
        {"concept:name": "c3"},  # a null attribute is omitted
    ]


def test_events_in_seq_order_with_timestamps():
    root = ET.fromstring(xes_text()[0])
    events = [[strings(e) for e in t.findall("x:event", NS)] for t in root.findall("x:trace", NS)]
    assert events == [
        [
            {"concept:name": "verify", "time:timestamp": "2026-03-01T09:00:00.250+00:00"},
            {"concept:name": "check"},  # null ts: no timestamp at all
        ],
        [
            {"concept:name": "greet", "time:timestamp": "2026-03-01T10:00:00.000+00:00"},
            {"concept:name": "<script>&", "time:timestamp": "2026-03-01T10:00:05.000+00:00"},
        ],
        [{"concept:name": "greet", "time:timestamp": "2026-03-02T08:00:00.000+00:00"}],
    ]


def test_missing_timestamp_omits_the_date_element():
    root = ET.fromstring(xes_text()[0])
    check = root.findall("x:trace", NS)[0].findall("x:event", NS)[1]
    assert check.findall("x:date", NS) == []


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        ("<script>&", 'value="&lt;script&gt;&amp;"'),
        ('say "hi"', "value='say \"hi\"'"),  # quoteattr picks the other quote
        ('it\'s "x"', 'value="it\'s &quot;x&quot;"'),
        ("a\nb", 'value="a&#10;b"'),
    ],
)
def test_text_is_escaped(value, raw):
    events = EVENTS.head(1).with_columns(step_id=pl.lit(value), conversation_id=pl.lit(value))
    text, _ = xes_text(events)
    assert text.count(raw) == 2  # the trace name and the event name
    trace = ET.fromstring(text).find("x:trace", NS)
    assert strings(trace)["concept:name"] == value
    assert strings(trace.find("x:event", NS))["concept:name"] == value


def test_characters_xml_cannot_carry_are_replaced():
    events = EVENTS.head(1).with_columns(step_id=pl.lit("a\x01b"))
    root = ET.fromstring(xes_text(events)[0])
    assert strings(root.find("x:trace/x:event", NS))["concept:name"] == "a\ufffdb"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (pl.Series([datetime(2026, 3, 1, 10)]), "2026-03-01T10:00:00.000+00:00"),
        (
            pl.Series([datetime(2026, 3, 1, 10)]).dt.replace_time_zone("Europe/Berlin"),
            "2026-03-01T10:00:00.000+01:00",
        ),
        (pl.Series([date(2026, 3, 1)]), "2026-03-01T00:00:00.000+00:00"),
    ],
)
def test_timestamps_carry_an_offset(ts, expected):
    events = EVENTS.head(1).with_columns(ts=ts)
    root = ET.fromstring(xes_text(events)[0])
    assert strings(root.find("x:trace/x:event", NS))["time:timestamp"] == expected


def test_small_batches_write_the_same_document():
    # a trace spans batches when batch_rows is 1
    assert xes_text(batch_rows=1) == xes_text()


def test_writes_to_a_path(tmp_path):
    path = tmp_path / "log.xes"
    counts = write_xes(EVENTS, path)
    assert counts == (3, 5)
    assert path.read_text(encoding="utf-8") == xes_text()[0]


def test_optional_roles_can_be_left_out():
    events = EVENTS.drop("ts", "seq", "intent_id")
    text, counts = xes_text(events, ts_col=None, order_col=None, case_attributes=())
    assert counts == (3, 5)
    root = ET.fromstring(text)
    assert root.findall(".//x:date", NS) == []
    # without seq, row order within a case is kept
    names = [strings(e)["concept:name"] for e in root.find("x:trace", NS).findall("x:event", NS)]
    assert names == ["check", "verify"]


def test_empty_log_is_a_valid_document():
    text, counts = xes_text(EVENTS.clear())
    assert counts == (0, 0)
    assert ET.fromstring(text).findall("x:trace", NS) == []


@pytest.mark.parametrize(
    ("events", "kwargs", "match"),
    [
        (EVENTS.drop("intent_id"), {}, "missing intent_id"),
        (EVENTS, {"case_col": "case"}, "missing case"),
        (EVENTS.with_columns(pl.col("ts").cast(pl.String)), {}, "ts: expected a date"),
    ],
)
def test_bad_columns_are_named(events, kwargs, match):
    with pytest.raises(SchemaError, match=match):
        write_xes(events, io.StringIO(), **kwargs)


def test_write_xes_does_not_modify_its_input():
    before = EVENTS.clone()
    xes_text()
    assert_frame_equal(EVENTS, before)
