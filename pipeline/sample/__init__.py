"""The bundled sample corpus: its design, wording, generator and truth (only the CLI imports it)."""
