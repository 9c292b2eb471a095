"""Reports people read: files written from the domain's results (no Temporal, no network)."""
