"""``advisor distill run``: every stage from one config file, resumable, into one run directory."""
