"""The ``cxminer`` command line: the parser, the commands, and what they print.

Only this package imports :mod:`pipeline.sample` and the Prefect flows (lazily).
"""
