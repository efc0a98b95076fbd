"""Cross-species alignment on the real tables: same quantity, same unit, in both species."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ephys2type import load_human, load_mouse
from ephys2type.data.align import alignment_report, to_aligned
from ephys2type.data.schema import FeatureSchema, get_schema


@pytest.fixture(scope="module")
def mouse():
    return load_mouse(labels="aligned4")


@pytest.fixture(scope="module")
def human():
    return load_human(labels="aligned4")


def test_every_aligned_feature_has_one_unit_in_both_species(mouse, human):
    report = alignment_report(mouse, human)
    assert len(report) == 25
    failed = report[~report["ok"]]
    assert failed.empty, failed[["unit", "low", "high", "mouse_median", "human_median", "ratio"]]


def test_conversions_follow_the_declared_units(mouse, human):
    ma, ha = to_aligned(mouse), to_aligned(human)
    cell = human.X.index[0]
    assert ha.X.loc[cell, "tau"] == pytest.approx(human.X.loc[cell, "tau"] * 1000)  # s -> ms
    assert ha.X.loc[cell, "avg_isi"] == pytest.approx(human.X.loc[cell, "mean_isi_hero"] * 1000)
    assert ha.X.loc[cell, "latency"] == pytest.approx(human.X.loc[cell, "latency_hero"] * 1000)
    m = mouse.X.index[0]
    assert ma.X.loc[m, "tau"] == mouse.X.loc[m, "tau"]  # already ms
    assert ma.X.loc[m, "latency"] == pytest.approx(mouse.X.loc[m, "latency"] * 1000)
    assert ma.X.loc[m, "peak_deltav_rheo"] == pytest.approx(
        mouse.X.loc[m, "peak_v_long_square"] - mouse.X.loc[m, "threshold_v_long_square"]
    )
    assert ma.X.loc[m, "rheobase_i"] == mouse.X.loc[m, "threshold_i_long_square"]


def _with_unit(schema: FeatureSchema, column: str, unit: str) -> FeatureSchema:
    families = tuple(
        dataclasses.replace(
            fam,
            features=tuple(
                dataclasses.replace(f, unit=unit) if f.name == column else f for f in fam.features
            ),
        )
        for fam in schema.families
    )
    return dataclasses.replace(schema, families=families)


@pytest.mark.parametrize(
    ("species", "column", "wrong_unit", "feature"),
    [
        ("human", "tau", "ms", "tau"),  # forgetting that human tau is in s
        ("mouse", "avg_isi", "s", "avg_isi"),  # treating ms as s
        ("human", "rheobase_i", "nA", "rheobase_i"),  # pA taken for nA
    ],
)
def test_a_unit_slip_cannot_pass(mouse, human, species, column, wrong_unit, feature):
    data = {"mouse": mouse, "human": human}[species]
    slipped = dataclasses.replace(data, schema=_with_unit(get_schema(species), column, wrong_unit))
    report = alignment_report(
        slipped if species == "mouse" else mouse, slipped if species == "human" else human
    )
    assert not report.loc[feature, "ok"]
    assert report["ok"].sum() == 24


def test_alignment_is_identity_on_aligned_data(mouse):
    aligned = to_aligned(mouse)
    assert to_aligned(aligned) is aligned


def test_aligned_values_are_finite_or_missing(mouse, human):
    for data in (mouse, human):
        values = to_aligned(data).X.to_numpy()
        assert not np.isinf(values).any()


def test_alignment_command(run_cli):
    result = run_cli("data", "alignment")
    assert result.code == 0, result
    assert "25 of 25 features pass" in result.out


def test_heterogeneous_layout_keeps_shared_and_own_features_apart(mouse, human):
    """Aligned families first (both species), then the human-only columns in their own
    families: every human column is either the source of an aligned feature or kept, once."""
    from ephys2type.data.align import heterogeneous_schema, heterogeneous_table

    schema = heterogeneous_schema(human.schema, "human")
    aligned = to_aligned(human)
    assert schema.columns[:25] == aligned.schema.columns
    own = schema.columns[25:]
    used = {c for f in aligned.schema.features for c in f.sources["human"].columns()}
    assert set(own) == set(human.schema.columns) - used and len(own) == len(set(own))
    assert all(name.startswith("human_") for name in schema.family_names[5:])
    table = heterogeneous_table(aligned.X, schema, human.X)
    assert list(table.columns) == schema.columns
    np.testing.assert_array_equal(table[own].to_numpy(), human.X[own].to_numpy())
    np.testing.assert_array_equal(table.iloc[:, :25].to_numpy(), aligned.X.to_numpy())
    # mouse cells on the human layout: their aligned features, the human-only ones empty
    on_human = heterogeneous_table(to_aligned(mouse).X, schema)
    assert on_human[own].isna().all().all() and on_human.iloc[:, :25].notna().any().all()
