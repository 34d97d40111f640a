"""cxminer: mine contact-center transcripts into intents, SOPs, drift and readiness evidence."""

__version__ = "0.1.0"
