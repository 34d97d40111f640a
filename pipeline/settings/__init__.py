"""Each stage's settings, one module a ``config.yaml`` section (see :mod:`pipeline.config`)."""
