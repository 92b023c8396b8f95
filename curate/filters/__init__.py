"""Per-record steps: normalisation, quality signals and thresholds, PHI scrubbing."""
