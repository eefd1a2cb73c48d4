"""The fuzz harness: hostile messages through the real service (see runner.py)."""
