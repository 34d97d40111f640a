"""Regenerate the bundled sample (deterministic: fixed seeds, fixed gzip mtime).

- conversations.jsonl.gz: 600 clean synthetic conversations;
- export_with_errors.jsonl: 12 more, 3 of them broken on purpose (malformed JSON, an
  unknown speaker, a missing id) so that a run shows quarantine at work.
"""

import gzip
from pathlib import Path

import orjson

from pipeline.sample import generate_conversations

HERE = Path(__file__).parent

with (
    open(HERE / "conversations.jsonl.gz", "wb") as raw,
    gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle,
):
    for record in generate_conversations(600, seed=7, turns=14):
        handle.write(orjson.dumps(record) + b"\n")

lines = [orjson.dumps(r) for r in generate_conversations(12, seed=8, turns=10)]
broken_speaker = orjson.loads(lines[4])
broken_speaker["turns"][1]["speaker"] = "supervisor"
lines[4] = orjson.dumps(broken_speaker)
missing_id = orjson.loads(lines[7])
del missing_id["conversation_id"]
lines[7] = orjson.dumps(missing_id)
lines[10] = lines[10][: len(lines[10]) // 2]  # cut mid-record, as a crashed export would
(HERE / "export_with_errors.jsonl").write_bytes(b"\n".join(lines) + b"\n")
print(f"wrote {HERE}/conversations.jsonl.gz and export_with_errors.jsonl")
