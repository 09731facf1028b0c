"""Background health probes (HLS, analytics API, device JSON, network). Core: imports no Qt."""
