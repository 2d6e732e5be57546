"""Streaming triage: the shared core at the top (pipeline, tracker, codec, settings, kafka, errors,
evaluation) and one package per program: ``worker`` (Faust), ``replay``, ``cli`` (docs/architecture.md)."""
