"""Policies behind one interface: baselines, training, evaluation, shipped models."""
