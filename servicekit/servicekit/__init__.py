"""servicekit: the mechanics every service shares (never domain models)."""
