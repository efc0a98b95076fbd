"""The reproduction report, built from a run folder alone (``run.json`` + stage folders)."""
