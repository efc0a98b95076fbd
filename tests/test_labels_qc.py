"""Label schemes and QC rules, on small hand-made tables where every outcome is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ephys2type.data.container import PatchSeqData
from ephys2type.data.labels import default_scheme, get_scheme, scheme_names
from ephys2type.data.qc import apply_qc
from ephys2type.data.schema import FeatureSchema
from ephys2type.errors import SchemaError, TableError


def test_scheme_catalogue():
    assert scheme_names("mouse") == ["mouse5", "mouse4", "aligned4", "ttype"]
    assert set(scheme_names("human")) == {"aligned4", "revised", "subclass", "ttype"}
    assert default_scheme("mouse") == "mouse5" and default_scheme("human") == "revised"
    assert get_scheme("mouse5", "mouse").classes == ["Lamp5", "Pvalb", "Sncg", "Sst", "Vip"]
    assert get_scheme("aligned4", "mouse").mapping["Sncg"] == "Vip"
    assert get_scheme("aligned4", "human").mapping["LAMP5/PAX6/Other"] == "Lamp5"
    assert get_scheme("revised", "human").column == "revised_subclass"
    assert get_scheme("subclass", "human").column == "subclass"
    assert get_scheme("ttype", "mouse").classes is None
    # the paper's four subclasses: Sncg cells are left out, not an unknown label
    four = get_scheme("mouse4", "mouse")
    assert four.classes == ["Lamp5", "Pvalb", "Sst", "Vip"] and four.dropped == ("Sncg",)


def test_a_scheme_that_drops_a_subclass_keeps_the_other_cells():
    """mouse4 leaves the Sncg cells out: the cells kept are those of mouse5 less them (3,676
    after default QC, against the paper's 3,699), and QC names why they went."""
    from ephys2type import load_mouse

    five, four = load_mouse(), load_mouse(labels="mouse4")
    assert len(four.y) == 3676 == int((five.y != "Sncg").sum())
    assert set(four.y) == {"Lamp5", "Pvalb", "Sst", "Vip"}
    drops = four.qc.drops
    sncg = drops[drops["detail"] == "subclass Sncg (not in mouse4)"]
    assert len(sncg) >= 230 and set(sncg["rule"]) == {"excluded_subclass"}


def test_apply_maps_excludes_and_refuses_unknown_labels():
    meta = pd.DataFrame({"subclass": ["Sst", "Sncg", None, "Serpinf1", "Vip"]}, index=list("abcde"))
    y = get_scheme("aligned4", "mouse").apply(meta, excluded=["Serpinf1"])
    assert y.tolist()[:2] == ["Sst", "Vip"] and y.tolist()[4] == "Vip"
    assert y.isna().tolist() == [False, False, True, True, False]
    meta.loc["e", "subclass"] = "Vipp"
    with pytest.raises(TableError, match=r"unknown label.*'Vipp'"):
        get_scheme("aligned4", "mouse").apply(meta, excluded=["Serpinf1"])
    # an out-of-scope subclass that is not declared excluded is unknown, not silently dropped
    with pytest.raises(TableError, match="Serpinf1"):
        get_scheme("mouse5", "mouse").apply(meta.drop(index="e"))


def test_scheme_needs_its_column():
    with pytest.raises(SchemaError, match="needs metadata column 'revised_subclass'"):
        get_scheme("revised", "human").apply(pd.DataFrame({"subclass": ["SST"]}))


SCHEMA = FeatureSchema.from_dict(
    {
        "name": "toy",
        "families": [
            {
                "name": "core",
                "essential": True,
                "features": [{"name": "a", "unit": "mV"}, {"name": "b", "unit": "mV"}],
            },
            {
                "name": "extra",
                "features": [
                    {"name": "c", "unit": "mV"},
                    {"name": "d", "unit": "mV"},
                    {"name": "e", "unit": "mV", "sparse": True},
                ],
            },
            {"name": "opt", "optional": True, "features": [{"name": "ri", "unit": "MOhm"}]},
        ],
    }
)


def _toy(rows: dict[str, list], labels: list) -> PatchSeqData:
    X = pd.DataFrame(rows, index=[f"c{i}" for i in range(len(labels))], dtype="float64")
    meta = pd.DataFrame({"species": "mouse", "donor": "d", "subclass": labels}, index=X.index)
    y = get_scheme("mouse5", "mouse").apply(meta, excluded=["Serpinf1"])
    return PatchSeqData(
        X=X[SCHEMA.columns], meta=meta, schema=SCHEMA, species="mouse", y=y, label_scheme="mouse5"
    )


def test_each_rule_catches_its_cells_and_counts_add_up():
    n = 24
    full = {c: [1.0] * n for c in SCHEMA.columns}
    full["e"] = [np.nan] * n  # sparse: never counted
    labels = ["Sst"] * 20 + ["Vip"] * 4
    labels[0] = None  # unlabeled
    labels[1] = "Serpinf1"  # excluded subclass
    full["a"][2] = full["b"][2] = np.nan  # whole essential family missing
    full["c"][3] = full["d"][3] = np.nan  # 2 of 4 counted features missing (50%)
    full["ri"][4] = -5.0  # impossible input resistance
    full["ri"][5] = np.nan  # optional family missing: fine
    data = _toy(full, labels)
    kept = apply_qc(data, "default")
    drops = kept.qc.drops
    assert drops.loc["c0", "rule"] == "unlabeled"
    assert drops.loc["c1", "rule"] == "excluded_subclass"
    assert drops.loc["c2", "rule"] == "missing_family" and "core" in drops.loc["c2", "detail"]
    assert drops.loc["c3", "rule"] == "max_missing" and "50%" in drops.loc["c3", "detail"]
    assert drops.loc["c4", "rule"] == "out_of_bounds" and drops.loc["c4", "detail"] == "ri = -5"
    # Vip has 4 < 10 cells left: all dropped by rare_class
    assert set(drops.index[drops.rule == "rare_class"]) == {"c20", "c21", "c22", "c23"}
    assert "c5" in kept.X.index
    assert kept.qc.rule_counts().sum() == len(drops) == n - len(kept)
    assert kept.classes == ["Sst"] and len(kept) == 15


def test_first_rule_wins():
    full = {c: [np.nan] * 10 for c in SCHEMA.columns}
    data = _toy(full, [None] + ["Sst"] * 9)
    drops = apply_qc(data, "default").qc.drops
    assert drops.loc["c0", "rule"] == "unlabeled"  # not also missing_family
    assert drops.index.is_unique


def test_qc_without_labels_keeps_label_rules_quiet():
    full = {c: [1.0] * 3 for c in SCHEMA.columns}
    data = _toy(full, ["Sst"] * 3)
    data = PatchSeqData(X=data.X, meta=data.meta, schema=SCHEMA, species="mouse")
    assert len(apply_qc(data, "default")) == 3


def test_unknown_profile():
    full = {c: [1.0] for c in SCHEMA.columns}
    with pytest.raises(SchemaError, match="unknown QC profile"):
        apply_qc(_toy(full, ["Sst"]), "strictest")


def test_qc_command_prints_rules_and_classes(run_cli):
    result = run_cli("qc", "--species", "mouse")
    assert result.code == 0, result
    assert "4435 cells in -> 3906 kept" in result.out
    for text in ("missing_family", "43", "max_missing", "272", "Sncg", "230", "3906"):
        assert text in result.out
    human = run_cli("qc", "--species", "human", "--labels", "subclass", "--profile", "complete")
    # every bundled human dataset by default; the layer-1 cells lack 11 features, so the
    # complete-cases profile keeps Lee, Dalley's 532
    assert human.code == 0 and "929 cells in -> 532 kept" in human.out


def test_qc_drops_file_is_written_once(run_cli, clean_error, tmp_path):
    out = tmp_path / "drops.csv"
    assert run_cli("qc", "--species", "human", "--drops", out).code == 0
    drops = pd.read_csv(out, dtype={"cell_id": str})
    assert len(drops) == 60 and set(drops.rule) == {  # 929 human cells in, 869 kept
        "unlabeled",
        "missing_family",
        "max_missing",
        "out_of_bounds",
    }
    before = out.read_bytes()
    clean_error(run_cli("qc", "--species", "human", "--drops", out), "already exists")
    assert out.read_bytes() == before
    assert run_cli("qc", "--species", "human", "--drops", out, "--force").code == 0


def test_data_info_prints_counts_for_every_scheme(run_cli):
    result = run_cli("data", "info")
    assert result.code == 0, result
    for text in (
        "mouse / gouwens2020: 4435 cells",
        "human / lee2023: 704 cells",
        "human / chartrand2023_l1: 263 cells",
        "human / lee2023,chartrand2023_l1: 929 cells",
        "Lamp5 101, Vip 138",
        "Lamp5 142, Pvalb 350, Sst 144, Vip 233",
        "chartrand2023_l1: 38 cell(s) also in lee2023; counted once",
        "Lamp5 466, Pvalb 764, Sncg 230, Sst 1717, Vip 729",
        "Lamp5 466, Pvalb 764, Sst 1717, Vip 959",
        "Lamp5 66, Pvalb 350, Sst 144, Vip 106",
        "Lamp5 74, Pvalb 280, Sst 214, Vip 98",
        "55 types of 10 to 258 cells",
        "17 types of 10 to 141 cells",
    ):
        assert text in result.out, text


def test_qc_rules_are_an_explicit_registry(monkeypatch):
    """RULES is listed from the rule functions in qc.py (nothing fills it on import), and
    register_rule adds a rule that a qc.toml profile can then name."""
    from ephys2type.data import qc

    assert list(qc.RULES) == [
        "unlabeled",
        "excluded_subclass",
        "missing_family",
        "max_missing",
        "out_of_bounds",
        "rare_class",
    ]
    named = {r["rule"] for p in qc.qc_config()["profiles"].values() for r in p["rules"]}
    assert named <= set(qc.RULES)  # every rule qc.toml names is registered
    with pytest.raises(SchemaError, match="already registered"):
        qc.register_rule("unlabeled", qc.RULES["unlabeled"])

    def negative_a(data: PatchSeqData) -> pd.Series:
        return pd.Series("a < 0", index=data.X.index).where(data.X["a"] < 0)

    monkeypatch.setattr(qc, "RULES", dict(qc.RULES))  # the rule added here ends with the test
    assert qc.register_rule("negative_a", negative_a) is negative_a
    config = {**qc.qc_config(), "profiles": {"mine": {"rules": [{"rule": "negative_a"}]}}}
    monkeypatch.setattr(qc, "qc_config", lambda: config)
    full = {c: [1.0, -1.0, 1.0] for c in SCHEMA.columns}
    kept = apply_qc(_toy(full, ["Sst"] * 3), "mine")
    assert kept.qc.drops["rule"].tolist() == ["negative_a"] and len(kept) == 2
