"""Each stage's settings, one module a ``config.yaml`` section; assembled by :mod:`pipeline.config`."""
