"""The data a command asks for (``DataRequest``): the rules between the data options of
``evaluate`` and ``train`` live in the library, and bad options are one error naming the
option."""

from __future__ import annotations

import pytest

from ephys2type.data.datasets import DEFAULT_DATASETS
from ephys2type.data.requests import ChoiceError, DataRequest, RequestError
from ephys2type.errors import Ephys2TypeError


def test_bundled_data_defaults():
    loaded = DataRequest(species="human").load()
    data = loaded.data
    assert loaded.origin == "human" and loaded.repeats is None
    assert data.qc.profile == "default" and data.label_scheme == "revised"
    # one default for evaluate and train: every bundled dataset of the species
    assert data.datasets == list(DEFAULT_DATASETS["human"]) == ["lee2023", "chartrand2023_l1"]
    assert loaded.description == (  # the datasets named (a trial read "lee2023_human" as one)
        "869 cells of human (datasets lee2023, chartrand2023_l1; revised labels; features of "
        "schema lee2023_human)"
    )
    other = DataRequest(species="human", profile="none", location=True).load().data
    assert other.datasets == data.datasets and other.qc.profile == "none"
    assert "location" in other.schema.family_names


def test_a_users_table_defaults(user_tables):
    features, labels = user_tables
    loaded = DataRequest(table=features, table_labels=labels, schema="mouse").load()
    assert loaded.origin == "features" and loaded.repeats is None
    assert loaded.data.qc.profile == "none" and loaded.data.label_scheme == "as_is"
    mapped = DataRequest(
        table=features, table_labels=labels, labels="mouse5", profile="default"
    ).load()
    assert mapped.data.label_scheme == "mouse5" and mapped.data.qc.profile == "default"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"species": "rat"}, ChoiceError, "--species must be one of mouse, human, not 'rat'"),
        ({"profile": "strict"}, ChoiceError, "--profile must be one of default"),
        ({"features": "both"}, ChoiceError, "--features must be one of native, aligned"),
        ({"datasets": "lee2023"}, Ephys2TypeError, "holds human cells, not mouse"),
        ({"table": "f.csv"}, RequestError, "--table needs --table-labels"),
        ({"table": "f.csv", "datasets": "a"}, RequestError, "it does not apply with --table"),
        ({"table": "f.csv", "table_labels": "l.csv", "profile": "x"}, ChoiceError, "--profile"),
    ],
)
def test_options_that_do_not_fit_are_one_error_naming_the_option(options, error, message):
    with pytest.raises(error, match=message):  # before any file is read
        DataRequest(**options).load()


def test_added_cell_options_go_together():
    with pytest.raises(RequestError, match="--add-table and --add-labels go together"):
        DataRequest(species="mouse", add_table="mine.csv").load()
    with pytest.raises(RequestError, match="--add-weight applies to --add-table"):
        DataRequest(species="mouse", add_weight=3).load()
    with pytest.raises(RequestError, match="--mapping maps the columns of --table"):
        DataRequest(species="mouse", mapping="map.toml").load()
