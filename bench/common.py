"""Helpers for the bench scripts (run inside a service directory with its settings)."""

from __future__ import annotations

import os
import statistics
import sys


def setup_django() -> None:
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def percentiles(values_ms: list[float]) -> str:
    values = sorted(values_ms)
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms  p95 {q[94]:.1f} ms  p99 {q[98]:.1f} ms  max {values[-1]:.1f} ms  (n={len(values)})"
