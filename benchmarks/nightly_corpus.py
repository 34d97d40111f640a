"""A realistic nightly corpus for benchmarks: the sample's structure, real wording.

The bundled sample (:mod:`pipeline.sample`) plans each conversation: intent, SOP steps in
order, action events, outcome, timestamps, team and agent. Its wording comes from a few
templates a step, so a large corpus holds few distinct texts and a run spends little time
embedding. Here the sample's records are kept whole and only their wording is varied
with real utterances from ``../shared/data`` (turn order, speakers, timestamps, action
events, outcomes and the truth labels stay as planned):

- a customer's opening request, with probability ``q``: for intents that a Banking77
  category asks the same thing as (:data:`BANKING77`), a real Banking77 query of that
  category, half of them after a real MultiDoGO opening greeting ("hi good morning");
  for the other intents, such a greeting put before the template request;
- an agent turn, with probability ``p``: a greeting becomes a real STAR wizard greeting
  (a dialogue's first wizard turn), a closing a real wizard closing (its last), an
  off-script remark a real free-typed wizard turn (``utter`` or a ``custom`` pick); a step
  or hold turn keeps its template and gains a real wizard sentence (2 to 10 words, from a
  free-typed turn) before or after it, so its wording varies and its meaning stays;
  escalation turns are kept (they carry the outcome);
- customer small talk and goodbyes always become real MultiDoGO turns of the same act
  (``outofdomain``/``confirmation``; ``thankyou``/``closinggreeting``).

``q`` and ``p`` are not chosen by taste: they are solved by bisection so that the share
of distinct texts (whitespace and case normalised) among the first ``k`` conversations
matches the real share at the same size ``k`` (shares fall as a corpus grows, so sizes
must match): opening turns against the mean of STAR's first user turns and MultiDoGO's
first request turns (its first turn with a task intent; ``hi`` comes before it), agent
turns against STAR's wizard turns. ``k`` is the number of STAR dialogues (or N, if
smaller; the real corpora are then subsampled to ``k``). Shares at the full size N are
reported beside them. Below ~2,000 conversations the templates alone (their slots and
typos) are more diverse than the real corpora at that size: nothing is varied then but
small talk and goodbyes. Seeded and deterministic. Usage:

    python benchmarks/nightly_corpus.py N [--increment-share 0.1] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
DATA = ROOT.parent / "shared" / "data"
TOLERANCE = 0.03  # generated shares are within this of the real ones at the same size

# Sample intent -> Banking77 categories whose queries ask the same thing.
BANKING77 = {
    "order_status": ("card_delivery_estimate",),
    "shipping_delay": ("card_arrival",),
    "refund_request": ("request_refund", "Refund_not_showing_up"),
    "payment_dispute": (
        "transaction_charged_twice",
        "card_payment_not_recognised",
        "extra_charge_on_statement",
    ),
    "password_reset": ("passcode_forgotten", "pin_blocked"),
    "address_change": ("edit_personal_details",),
    "account_closure": ("terminate_account",),
    "fraud_report": ("compromised_card", "lost_or_stolen_card", "cash_withdrawal_not_recognised"),
}
# MultiDoGO's acts that are no task intent ("" when a turn has none)
_GENERIC_ACTS = {
    "",
    *"openinggreeting contentonly confirmation rejection thankyou".split(),
    *"closinggreeting outofdomain".split(),
}
_CLOSING_LABELS = {"goodbye_1", "ride_bye", "anything_else"}
_FREE_LABELS = {None, "custom"}  # a wizard turn typed, not picked from the flowchart


@dataclass(frozen=True)
class RealText:
    """Real utterances by function, and the real corpora's turns for distinct shares."""

    banking77: dict[str, tuple[str, ...]]  # by sample intent
    customer_greetings: tuple[str, ...]
    customer_goodbyes: tuple[str, ...]
    customer_smalltalk: tuple[str, ...]
    agent_greetings: tuple[str, ...]
    agent_closings: tuple[str, ...]
    agent_free: tuple[str, ...]
    agent_sentences: tuple[str, ...]
    star_dialogues: tuple[tuple[str | None, tuple[str, ...]], ...]  # (opening, wizard turns)
    multidogo_requests: tuple[str, ...]  # each conversation's first task-intent turn


def read_real(data: Path = DATA) -> RealText:
    """Read STAR, MultiDoGO and Banking77 from ``data``.

    Raises
    ------
    FileNotFoundError
        A dataset is missing (one line naming the folder).
    """
    for part in ("star/dialogues.jsonl.gz", "multidogo/airline", "banking77/train.csv"):
        if not (data / part).exists():
            raise FileNotFoundError(
                f"{data / part} not found: the nightly benchmark draws its wording from the "
                "shared real datasets (../shared/data beside the project)"
            )
    dialogues, wizard = _read_star(data / "star" / "dialogues.jsonl.gz")
    acts, requests = _read_multidogo(data / "multidogo")
    by_category: dict[str, list[str]] = {}
    for split in ("train", "test"):
        with open(data / "banking77" / f"{split}.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                by_category.setdefault(row["category"], []).append(row["text"])
    sentences = [s for text in wizard["free"] for s in re.split(r"(?<=[.!?])\s+", text.strip())]
    return RealText(
        banking77={
            intent: _distinct(t for c in categories for t in by_category.get(c, ()))
            for intent, categories in BANKING77.items()
        },
        customer_greetings=_distinct(acts.get("openinggreeting", ())),
        customer_goodbyes=_distinct([*acts.get("thankyou", ()), *acts.get("closinggreeting", ())]),
        customer_smalltalk=_distinct([*acts.get("outofdomain", ()), *acts.get("confirmation", ())]),
        agent_greetings=_distinct(wizard["greetings"]),
        agent_closings=_distinct(wizard["closings"]),
        agent_free=_distinct(wizard["free"]),
        agent_sentences=_distinct(s for s in sentences if 2 <= len(s.split()) <= 10),
        star_dialogues=tuple(dialogues),
        multidogo_requests=tuple(requests),
    )


def _read_star(path: Path) -> tuple[list[tuple[str | None, tuple[str, ...]]], dict[str, list]]:
    """STAR dialogues as (first user turn, wizard turns), and wizard turns by function."""
    dialogues = []
    wizard: dict[str, list[str]] = {"greetings": [], "closings": [], "free": []}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            events = json.loads(line)["Events"]
            user = [
                e["Text"] for e in events if (e.get("Agent"), e.get("Action")) == ("User", "utter")
            ]
            turns = [
                e
                for e in events
                if e.get("Agent") == "Wizard" and e.get("Action") in ("utter", "pick_suggestion")
            ]
            dialogues.append((user[0] if user else None, tuple(e["Text"] for e in turns)))
            wizard["free"] += [e["Text"] for e in turns if e.get("ActionLabel") in _FREE_LABELS]
            if turns and turns[0].get("ActionLabel") in _FREE_LABELS | {"hello"}:
                wizard["greetings"].append(turns[0]["Text"])
            if turns and turns[-1].get("ActionLabel") in _FREE_LABELS | _CLOSING_LABELS:
                wizard["closings"].append(turns[-1]["Text"])
    return dialogues, wizard


def _read_multidogo(folder: Path) -> tuple[dict[str, list[str]], list[str]]:
    """MultiDoGO customer turns by act, and each conversation's first task-intent turn."""
    acts: dict[str, list[str]] = {}
    requests = []
    for conversation in _multidogo_conversations(folder):
        for text, intents in conversation:
            for act in intents:
                acts.setdefault(act, []).append(text)
        request = next((t for t, i in conversation if set(i) - _GENERIC_ACTS), None)
        if request:
            requests.append(request)
    return acts, requests


def _multidogo_conversations(folder: Path) -> Iterable[list[tuple[str, list[str]]]]:
    """Yield each MultiDoGO conversation as (utterance, intents) turns, in file order."""
    csv.field_size_limit(1 << 24)  # quoted multi-line utterances
    for domain in sorted(p for p in folder.iterdir() if p.is_dir()):
        for split in ("train", "dev", "test"):
            conversations: dict[str, list[tuple[str, list[str]]]] = {}
            with open(domain / f"{split}.tsv", newline="", encoding="utf-8") as handle:
                rows = csv.reader(handle, delimiter="\t")
                next(rows)
                for row in rows:
                    if len(row) >= 6 and row[3].strip():
                        intents = [i.strip().lower() for i in row[5].split("<div>")]
                        conversations.setdefault(row[0], []).append((row[3], intents))
            yield from conversations.values()


def _distinct(texts: Iterable[str]) -> tuple[str, ...]:
    """Distinct non-empty texts in first-seen order (a stable pool to draw from)."""
    return tuple(dict.fromkeys(t.strip() for t in texts if t and t.strip()))


def normalise(text: str) -> str:
    """Whitespace- and case-normalised text: what counts as one distinct text."""
    return " ".join(text.split()).lower()


def distinct_share(texts: Sequence[str]) -> float:
    """Share of distinct texts (after :func:`normalise`) among ``texts``."""
    return len({normalise(t) for t in texts}) / len(texts) if texts else 0.0


def real_shares(real: RealText, k: int) -> dict[str, float]:
    """Distinct shares of the real corpora at size ``k`` (a seeded subsample if larger)."""
    star = _subsample(real.star_dialogues, k)
    requests = _subsample(real.multidogo_requests, k)
    shares = {
        "opening_star": distinct_share([o for o, _ in star if o]),
        "opening_multidogo": distinct_share(requests),
        "agent_star": distinct_share([t for _, turns in star for t in turns]),
    }
    shares["opening"] = (shares["opening_star"] + shares["opening_multidogo"]) / 2
    shares["agent"] = shares["agent_star"]
    return shares


def _subsample(items: Sequence[Any], k: int) -> Sequence[Any]:
    return items if k >= len(items) else random.Random(0).sample(list(items), k)


def corpus_shares(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Distinct shares of a canonical corpus: first customer turns, agent text turns."""
    openings, agent = [], []
    for record in records:
        customer = [t["text"] for t in record["turns"] if t["speaker"] == "customer"]
        openings += customer[:1]
        agent += [t["text"] for t in record["turns"] if t["speaker"] == "agent" and t.get("text")]
    return {"opening": distinct_share(openings), "agent": distinct_share(agent)}


class Rewriter:
    """Vary a sample conversation's wording with real text (see the module docstring)."""

    def __init__(self, real: RealText, *, seed: int) -> None:
        from pipeline.sample.conversation import CLOSING, GREETING, OTHER
        from pipeline.sample.generator import load_content

        content = load_content()
        self.real, self.seed = real, seed
        self.roles = {GREETING: "greeting", CLOSING: "closing", OTHER: "other"}
        self.hold = set(content["agent_hold"])
        self.escalation = set(content["escalation"])
        self.goodbye = {_key(t) for t in content["customer_goodbye"]}
        self.smalltalk = {_key(t) for t in content["customer_smalltalk"]}

    def rewrite(self, conversation: Any, index: int, *, q: float, p: float) -> dict[str, Any]:
        """Return a copy of the conversation's record with varied wording.

        Every turn draws the same three numbers whatever ``q`` and ``p`` are, so a larger
        ``p`` varies a superset of the turns (the shares rise monotonically with it).
        """
        rng = random.Random(f"{self.seed}:{index}")
        record = dict(conversation.record)
        turns = [dict(t) for t in record["turns"]]
        first_customer = next((i for i, t in enumerate(turns) if t["speaker"] == "customer"), -1)
        for i, turn in enumerate(turns):
            u, a, b = rng.random(), rng.random(), rng.random()
            text = turn.get("text")
            if not text:
                continue
            if i == first_customer:
                if u < q:
                    turn["text"] = self._opening(conversation.intent, text, a, b)
            elif turn["speaker"] == "customer":
                if _key(text) in self.goodbye:
                    turn["text"] = _pick(self.real.customer_goodbyes, a)
                elif _key(text) in self.smalltalk:
                    turn["text"] = _pick(self.real.customer_smalltalk, a)
            elif u < p:
                turn["text"] = self._agent(conversation.turn_steps.get(i), text, a, b)
        record["turns"] = turns
        return record

    def _opening(self, intent: str, text: str, a: float, b: float) -> str:
        greeting = _pick(self.real.customer_greetings, 2 * b % 1)
        queries = self.real.banking77.get(intent)
        if not queries:
            return f"{greeting} {text}"
        # half after a greeting: a few thousand queries stay fresh over 100k conversations
        return _pick(queries, a) if b < 0.5 else f"{greeting} {_pick(queries, a)}"

    def _agent(self, label: str | None, text: str, a: float, b: float) -> str:
        role = self.roles.get(label or "other", "step")
        if role == "other" and text in self.escalation:
            return text
        if role == "greeting":
            return _pick(self.real.agent_greetings, a)
        if role == "closing":
            return _pick(self.real.agent_closings, a)
        if role == "other" and text not in self.hold:
            return _pick(self.real.agent_free, a)
        sentence = _pick(self.real.agent_sentences, a)
        return f"{sentence} {text}" if b < 0.5 else f"{text} {sentence}"


def _key(text: str) -> str:
    return text.strip().lower().rstrip(".!")


def _pick(pool: Sequence[str], u: float) -> str:
    return pool[min(int(u * len(pool)), len(pool) - 1)]


def calibrate(share: Callable[[float], float], target: float, *, steps: int = 14) -> float:
    """Return the probability in [0, 1] whose share is closest to ``target`` (bisection).

    ``share`` must rise with its argument; a target outside its range gives 0 or 1.
    """
    if share(0.0) >= target:
        return 0.0
    if share(1.0) <= target:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(steps):
        middle = (low + high) / 2
        low, high = (middle, high) if share(middle) < target else (low, middle)
    return (low + high) / 2


def generate_corpus(
    n_total: int, *, seed: int, real: RealText
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Generate ``n_total`` conversations in time order; return records, labels, figures.

    ``figures`` holds ``q``, ``p``, ``k`` and the real and generated shares at size ``k``.
    """
    from pipeline.sample.generate import generate_sample
    from pipeline.sample.truth import conversation_label

    conversations = generate_sample(n_total, seed=seed).conversations[:n_total]
    rewriter = Rewriter(real, seed=seed)
    k = min(len(conversations), len(real.star_dialogues))
    probe = conversations[:k]
    target = real_shares(real, k)

    def probe_share(kind: str, **mix: float) -> float:
        records = [rewriter.rewrite(c, i, **mix) for i, c in enumerate(probe)]
        return corpus_shares(records)[kind]

    q = calibrate(lambda v: probe_share("opening", q=v, p=0.0), target["opening"])
    p = calibrate(lambda v: probe_share("agent", q=0.0, p=v), target["agent"])
    records = [rewriter.rewrite(c, i, q=q, p=p) for i, c in enumerate(conversations)]
    labels = [conversation_label(c) for c in conversations]
    figures = {"q": q, "p": p, "k": k, "real": target, "generated_k": corpus_shares(records[:k])}
    return records, labels, figures


def corpus_folder(n: int, n_increment: int, seed: int) -> Path:
    """The cache folder of a corpus (named by sizes, seed and this module's code)."""
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    return OUT / f"nightly_{n}_{n_increment}_s{seed}_{code}"


def write_corpus(n: int, n_increment: int, *, seed: int = 1, data: Path = DATA) -> Path:
    """Write ``base.jsonl`` (N), ``increment.jsonl``, ``labels.jsonl``, ``sops/``, ``meta.json``.

    Returns the folder; an existing complete folder is reused as it is.
    """
    from pipeline.sample.truth import sample_sops
    from pipeline.sops.model import save_sop

    folder = corpus_folder(n, n_increment, seed)
    if (folder / "meta.json").exists():
        return folder
    started = time.perf_counter()
    real = read_real(data)
    records, labels, figures = generate_corpus(n + n_increment, seed=seed, real=real)
    tmp = folder.with_suffix(".tmp")
    (tmp / "sops").mkdir(parents=True, exist_ok=True)
    for name, rows in (("base", records[:n]), ("increment", records[n:]), ("labels", labels)):
        with open(tmp / f"{name}.jsonl", "wb") as handle:
            handle.writelines(orjson.dumps(row) + b"\n" for row in rows)
    for sop in sample_sops():
        save_sop(sop, tmp / "sops" / f"{sop.sop_id}.yaml")
    figures.update(
        n=n,
        n_increment=len(records) - n,
        seed=seed,
        generated_n=corpus_shares(records[:n]),
        seconds=round(time.perf_counter() - started, 1),
    )
    (tmp / "meta.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    tmp.rename(folder)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """Write a corpus (cached) and print its folder and distinct shares."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="conversations of the first night")
    parser.add_argument("--increment-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared real datasets")
    args = parser.parse_args(argv)
    try:
        folder = write_corpus(
            args.n, round(args.n * args.increment_share), seed=args.seed, data=args.data
        )
    except FileNotFoundError as exc:
        print(f"nightly_corpus: {exc}", file=sys.stderr)
        return 1
    print(folder)
    print((folder / "meta.json").read_text(encoding="utf-8"), end="")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
