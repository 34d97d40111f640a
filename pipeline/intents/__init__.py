"""Stage 4, intents: group conversations by what the customer asked for.

Each conversation's opening request (:mod:`~pipeline.intents.requests`) is clustered by
an :class:`IntentClusterer` (:mod:`~pipeline.intents.fit`, a scikit-learn estimator over
:mod:`pipeline.clustering`); all-recent groups are split off and flagged as emerging
(:mod:`~pipeline.intents.emerging`); a saved :class:`IntentModel` assigns later
conversations (:mod:`~pipeline.intents.model`); ids are kept across refits
(:mod:`~pipeline.intents.lineage`), each intent is named by a key phrase
(:mod:`~pipeline.intents.names`) and intents are grouped into families, the coarse level
(:mod:`~pipeline.intents.families`); :mod:`~pipeline.intents.show` prints them.
:mod:`pipeline.intents.run` is the one module that reads and writes the store.
"""

from pipeline.intents.emerging import emerging_intents, split_emerging
from pipeline.intents.fit import IntentClusterer
from pipeline.intents.lineage import intent_lineage, match_intent_ids
from pipeline.intents.model import IntentModel, assign_intents, dump_model, load_model
from pipeline.intents.names import describe_intents
from pipeline.intents.requests import opening_requests, request_vectors

__all__ = [
    "IntentClusterer",
    "IntentModel",
    "assign_intents",
    "describe_intents",
    "dump_model",
    "emerging_intents",
    "intent_lineage",
    "load_model",
    "match_intent_ids",
    "opening_requests",
    "request_vectors",
    "split_emerging",
]
