"""Scenario plug-ins: each <feature>.py here exposes scenarios(ctx) -> list[Scenario] (bench/README.md)."""
