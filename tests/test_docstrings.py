"""The Examples in the public estimators' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "ephys2type.models.conformal",
    "ephys2type.models.hierarchy",
    "ephys2type.models.preprocessing",
    "ephys2type.models.sparse_pca",
    "ephys2type.models.bilstm.estimator",
    "ephys2type.models.transfer.estimators",
    "ephys2type.testing.synthetic",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
