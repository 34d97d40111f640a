"""Thin Prefect flows over ``pipeline``: read via the store, call a stage, write via the store."""
