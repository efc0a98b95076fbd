"""One validator of cells x features: what ``read_feature_table`` checked, a model's input
check (``as_feature_frame``) does not check again, and gives the same frame it would have."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from ephys2type.data import feature_frames
from ephys2type.data.feature_frames import FeatureFrame, as_feature_frame, validate_features
from ephys2type.data.schema import get_schema
from ephys2type.data.tables import read_feature_table
from ephys2type.errors import Ephys2TypeWarning, TableError

SCHEMA = get_schema("human")


@pytest.fixture
def features_csv(tmp_path):
    """Five cells with all but three of the human schema's features."""
    columns = SCHEMA.columns[3:]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5, len(columns))), columns=columns)
    frame.insert(0, "cell_id", [f"c{i}" for i in range(5)])
    path = tmp_path / "features.csv"
    frame.to_csv(path, index=False)
    return path


def _read(path):
    return read_feature_table(
        path, SCHEMA, id_column=None, allow_missing=True, check_unit_ranges=False
    )


def _model_input(frame):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = as_feature_frame(frame, SCHEMA)
    return out, [str(w.message) for w in caught if w.category is Ephys2TypeWarning]


def test_a_read_table_is_not_checked_again_and_comes_out_the_same(features_csv, monkeypatch):
    cells = _read(features_csv)
    assert isinstance(cells, FeatureFrame) and cells.is_checked_for(SCHEMA)
    assert list(cells.columns) == SCHEMA.columns[3:]
    checked, warned = _model_input(pd.DataFrame(cells))  # a plain frame: checked in full
    monkeypatch.setattr(feature_frames, "validate_features", None)  # the read one is not checked
    fast, fast_warned = _model_input(cells)
    assert type(fast) is pd.DataFrame and pickle.dumps(fast) == pickle.dumps(checked)
    assert fast_warned == warned and "3 of the model's 93 feature columns absent" in warned[0]
    with pytest.raises(TypeError):  # a plain frame still goes through the validator
        _model_input(pd.DataFrame(cells))


def test_what_is_derived_from_a_read_table_is_checked_as_any_input(features_csv):
    cells = _read(features_csv)
    for derived in (cells.copy(), cells * 2, cells.iloc[:3], cells[cells.columns[:5]]):
        assert type(derived) is pd.DataFrame
    changed = cells.copy()
    changed.iloc[1, 0] = np.inf
    with pytest.raises(TableError, match=r"row 'c1'.*infinite"):
        _model_input(changed)
    # a column added in place, or another schema, breaks the record: checked in full
    cells["extra"] = 1.0
    assert not cells.is_checked_for(SCHEMA)
    assert not _read(features_csv).is_checked_for(SCHEMA.select(SCHEMA.columns[3:]))


def test_one_validator_names_the_place(features_csv):
    frame = pd.DataFrame({"tau": ["1.5", "x"]}, index=pd.Index(["a", "b"], name="cell_id"))
    with pytest.raises(TableError, match=r"features: column 'tau', row 'b': value 'x' is not"):
        validate_features(frame, SCHEMA)
    with pytest.raises(TableError, match="duplicate cell id 'a'"):
        validate_features(frame.set_axis(["a", "a"]), SCHEMA)
    ok = validate_features(frame.iloc[:1], SCHEMA)
    assert ok.dtypes.tolist() == [np.float64] and ok.index.tolist() == ["a"]
    lines = features_csv.read_text().splitlines()
    cell, _, rest = lines[2].partition(",")
    lines[2] = f"{cell},abc,{rest.partition(',')[2]}"  # the first feature of cell c1
    features_csv.write_text("\n".join(lines) + "\n")
    first = SCHEMA.columns[3]
    with pytest.raises(TableError, match=rf"column '{first}', line 3: value 'abc' is not"):
        _read(features_csv)


def test_a_dataframe_index_of_cell_ids_is_kept_beside_a_unique_text_column():
    """New-user trial: ``read_csv(index_col=0)`` gave cells their ids, and a unique date
    column replaced them; an index of row numbers still leaves the ids to a column. Many
    absent columns come in one block (pandas warned of a fragmented frame; warnings are
    errors in this suite)."""
    columns = SCHEMA.columns[:20]  # the other 73 absent
    rng = np.random.default_rng(0)
    recorded = [f"2018-05-1{i} 01:17:56" for i in range(4)]
    cells = pd.concat(  # a block per column, as a frame read from a wide file can have
        [
            *(pd.DataFrame({c: rng.normal(size=4)}) for c in columns),
            *(pd.DataFrame({f"qc_{i}": rng.normal(size=4)}) for i in range(90)),
            pd.DataFrame({"recorded": recorded}),
        ],
        axis=1,
    )
    named = cells.set_axis(pd.Index([f"cell{i}" for i in range(4)], name="cell_name"))
    unnamed_text = named.rename_axis(None)
    rows = cells.set_axis(pd.RangeIndex(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Ephys2TypeWarning)  # absent and ignored columns
        for given in (named, unnamed_text):
            assert list(as_feature_frame(given, SCHEMA).index) == [f"cell{i}" for i in range(4)]
        assert list(as_feature_frame(rows, SCHEMA).index) == recorded
        assert list(as_feature_frame(named, SCHEMA, id_column="recorded").index) == recorded
        # the model's own id column is the ids, whatever the index (review: it was ignored)
        kept = as_feature_frame(named, SCHEMA, preferred_id_column="recorded")
        assert list(kept.index) == recorded
        # unless it cannot be ids (a blank, a repeat): the index stays (review)
        for bad in (["a", "", "b", "c"], ["a", "a", "b", "c"]):
            odd = named.assign(recorded=bad)
            kept = as_feature_frame(odd, SCHEMA, preferred_id_column="recorded")
            assert list(kept.index) == [f"cell{i}" for i in range(4)]


def test_a_column_named_twice_is_one_clear_error():
    """Review: with absent columns too, pandas' 'cannot reindex on an axis with duplicate
    labels' reached the user."""
    cells = pd.DataFrame(np.ones((3, 3)), columns=[SCHEMA.columns[0], SCHEMA.columns[1], "x"])
    cells.columns = [SCHEMA.columns[0], SCHEMA.columns[0], "x"]
    with pytest.raises(TableError, match=f"columns named twice: {SCHEMA.columns[0]}"):
        as_feature_frame(cells, SCHEMA)
