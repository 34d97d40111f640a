"""Export: cxminer's conversations and results written back in formats other tools read.

:func:`build_vcons` turns a batch of conversations, their turns and their results
(intent, steps, conformance, drift examples, action events) into IETF vCon documents, one a
conversation; :func:`vcon_uuid` gives a conversation's stable vCon UUID and
:func:`dump_vcon` its bytes. :mod:`pipeline.export.run` is the only module of the package
that reads the store (read-only) and writes the files (``cxminer export-vcon``).
"""

from pipeline.export.vcon import ANALYSIS_SCHEMAS, build_vcons, dump_vcon, vcon_uuid

__all__ = ["ANALYSIS_SCHEMAS", "build_vcons", "dump_vcon", "vcon_uuid"]
