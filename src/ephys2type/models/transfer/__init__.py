"""Estimators that learn a target species' classes with help from a source species' cells."""
