"""Training, export and data pipeline for rtsep's causal mask networks (needs the ``train`` extra)."""
