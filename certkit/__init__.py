"""certkit: certificate lifecycle toolkit for Notary (Docker Content Trust)."""

__version__ = "0.1.0"
