"""Metrics every part of Timekeeper records into; it imports none of Timekeeper's packages."""
