"""Evaluation layer: split plans, statistics (corrected intervals, paired tests), the runner
that fits models fold by fold, the :class:`~.results.Evaluation` it returns, writers and
plots of results folders, and the transfer experiment built on the same runner."""
