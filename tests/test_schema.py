"""Feature schemas: built-ins match the real tables column for column; bad schemas fail."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ephys2type.data.fetch import fetch
from ephys2type.data.qc import non_feature_columns, qc_config
from ephys2type.data.schema import (
    BUILTIN_SCHEMAS,
    FeatureSchema,
    conversion_factor,
    get_schema,
    units_table,
)
from ephys2type.errors import SchemaError


@pytest.mark.parametrize(
    ("name", "n_families", "n_features", "essential"),
    [
        ("mouse", 5, 39, {"subthreshold", "long_square"}),
        ("human", 7, 93, {"subthreshold", "rheo"}),
        ("aligned", 5, 25, {"subthreshold", "rheobase_ap"}),
    ],
)
def test_builtin_schemas(name, n_families, n_features, essential):
    schema = get_schema(name)
    assert len(schema.families) == n_families
    assert len(schema.columns) == n_features == len(set(schema.columns))
    assert {f.name for f in schema.families if f.essential} == essential
    assert all(f.unit in units_table() for f in schema.features)
    index = schema.family_index()
    assert [schema.columns[i] for fam in index for i in fam] == schema.columns


@pytest.mark.parametrize(
    ("species", "name", "file"),
    [
        ("mouse", "mouse", "gouwens2020_mouse/efeature.csv"),
        ("human", "human", "lee2023_human/LeeDalley_ephys_fx.csv"),
    ],
)
def test_schema_accounts_for_every_column_of_the_real_table(species, name, file):
    header = list(pd.read_csv(fetch(file).path, nrows=0).columns)
    used = get_schema(name).columns
    skipped = non_feature_columns(species)
    assert sorted(used + skipped) == sorted(header)
    assert not set(used) & set(skipped)


def test_aligned_sources_name_real_columns():
    aligned = get_schema("aligned")
    for species in ("mouse", "human"):
        native = get_schema(species)
        for feat in aligned.features:
            for col in feat.sources[species].columns():
                assert col in native.columns, (species, feat.name, col)
                # conversion must be defined: same physical dimension, a positive factor
                factor = conversion_factor(native.feature(col).unit, feat.unit)
                assert factor > 0, (species, feat.name, col)
    # the known unit mismatch of the shared data README: mouse tau in ms, human in s
    tau = aligned.feature("tau")
    assert conversion_factor(get_schema("mouse").feature("tau").unit, tau.unit) != (
        conversion_factor(get_schema("human").feature("tau").unit, tau.unit)
    )


def test_qc_bounds_name_real_columns():
    known = set(get_schema("mouse").columns) | set(get_schema("human").columns)
    assert set(qc_config()["bounds"]) <= known


def test_unit_conversion():
    assert conversion_factor("s", "ms") == pytest.approx(1000.0)
    assert conversion_factor("ms", "ms") == 1.0
    assert conversion_factor("GOhm", "MOhm") == pytest.approx(1000.0)
    with pytest.raises(SchemaError, match="cannot convert"):
        conversion_factor("ms", "mV")
    with pytest.raises(SchemaError, match="unknown unit"):
        conversion_factor("furlong", "ms")


def test_round_trip_through_dict():
    for name in BUILTIN_SCHEMAS:
        schema = get_schema(name)
        again = FeatureSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
        assert again == schema


def _minimal(**feature) -> dict:
    return {
        "name": "t",
        "families": [{"name": "a", "features": [{"name": "x", "unit": "mV", **feature}]}],
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "t"}, "missing key 'families'"),
        ({"name": "t", "families": []}, "has no families"),
        (_minimal(unit="volts"), "unknown unit"),
        (_minimal(colour="red"), "unknown keys"),
        (_minimal(median_range=[5, 1]), "invalid median_range"),
        (
            {
                "families": [
                    {"name": "a", "features": [{"name": "x", "unit": "mV"}]},
                    {"name": "b", "features": [{"name": "x", "unit": "mV"}]},
                ]
            },
            "is in both",
        ),
        ({"families": [{"name": "a", "features": []}]}, "has no features"),
    ],
)
def test_invalid_schemas_are_refused(raw, message):
    with pytest.raises(SchemaError, match=message):
        FeatureSchema.from_dict(raw)


def test_schema_from_files(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'name = "mine"\n[[families]]\nname = "a"\nfeatures = [{ name = "x", unit = "ms" }]\n'
    )
    assert get_schema(toml).columns == ["x"]
    js = tmp_path / "mine.json"
    js.write_text(json.dumps(_minimal()))
    assert get_schema(js).columns == ["x"]
    bad = tmp_path / "bad.toml"
    bad.write_text("families = [[[")
    with pytest.raises(SchemaError, match="not a valid schema file"):
        get_schema(bad)
    with pytest.raises(SchemaError, match="neither a built-in schema"):
        get_schema(tmp_path / "missing.toml")


def test_families_command(run_cli):
    for species, n in (("mouse", 39), ("human", 93), ("aligned", 25)):
        result = run_cli("data", "families", "--species", species)
        assert result.code == 0, result
        assert f"{n} features" in result.out
    assert (
        "tau (ms) <- mouse: tau; human: tau"
        in run_cli("data", "families", "--species", "aligned").out
    )
