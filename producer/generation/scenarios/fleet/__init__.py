"""The fleet scenario (seeds 000–002): companies, drivers, driver events, per-interval ground truth."""
