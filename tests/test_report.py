"""The reproduction report's parts, without a run: estimates read both ways, the wording of
a single fit, one document rendered as HTML and Markdown, and facts a run folder does not
record left out of the prose rather than looked up. (The report of a whole run folder, and
that it is built without loading any data: tests/test_reproduce.py.)"""

from __future__ import annotations

import re

import pytest

from ephys2type.study.report.analyses import FeatureSubsets, ProtocolSubset, Separation
from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.data_facts import DataFacts
from ephys2type.study.report.document import Heading
from ephys2type.study.report.estimates import Comparison, Difference, Interval
from ephys2type.study.report.evaluations import (
    Attention,
    BatchCheck,
    HeldOutDatasets,
    LevelRow,
    Levels,
)
from ephys2type.study.report.paper import PAPER_DIFFERENCES
from ephys2type.study.report.render import render_html, render_markdown, unique_anchors
from ephys2type.study.report.sections import classifiers as classifier_sections
from ephys2type.study.report.sections import paper as paper_sections
from ephys2type.study.report.sections import transfer as transfer_sections
from ephys2type.study.report.sections import ttypes as ttype_sections
from ephys2type.study.report.sections.datasets import datasets_section
from ephys2type.study.report.sections.incomplete_cells import feature_subsets_section
from ephys2type.study.report.sections.spca import spca_section
from ephys2type.study.report.sections.transfer import transfer_section
from ephys2type.study.report.summary import DatasetResults, SeparationResults, TransferResults
from ephys2type.study.report.wording import because, fmt_gain, fmt_pct, paper_inside, verdict


def test_report_sentences_survive_a_single_fit():
    one = Difference(mean_diff=0.1, ci_low=None, ci_high=None, p=None)
    assert because(one) == "(difference +10.00 points; one fit, no CI)"
    assert verdict(one) == "cannot be compared with"
    assert fmt_gain(one) == "+10.00 (1 fit: no CI or p)"
    assert fmt_pct(Interval(0.8)) == "80.00 (1 fit: no SD or CI)"
    assert paper_inside(80.0, Interval(0.8)) == ""  # no interval: cannot say


def test_the_papers_own_sampling_error_is_counted_before_saying_it_differs():
    """The paper's value is one test set of its own: outside our interval is not yet
    beyond both errors (a reviewer: mouse rf 92.17 [91.29, 93.04] against 90.72 read as a
    difference, 1.3 of the paper's standard errors on 740 cells)."""
    ours = Interval(0.9217, 0.0073, 0.9129, 0.9304)
    assert paper_inside(92.0, ours, 740) == "yes"
    assert paper_inside(90.72, ours) == "no"  # no test-set size: our interval alone
    assert paper_inside(90.72, ours, 740) == (
        "no, but within both errors combined (±2.3 points, with the paper's own error on its "
        "740 test cells)"
    )
    # the margin quoted is the one decided on: 89.9 is 2.27 points off, inside ±2.3
    assert paper_inside(89.9, ours, 740).startswith("no, but within both errors combined (±2.3")
    assert paper_inside(80.0, ours, 740) == (
        "no, beyond both errors combined (±3.0 points, with the paper's own error on its 740 "
        "test cells)"
    )


def test_a_comparison_is_found_whichever_way_it_was_stored():
    stored = Comparison.from_json(
        {
            "a": "rf",
            "b": "bilstm-smote",
            "metric": "accuracy",
            "mean_diff": -0.02,
            "ci_low": -0.03,
            "ci_high": -0.01,
            "t": -4.0,
            "p": 0.01,
            "n_folds": 3,
        }
    )
    assert verdict(stored) == "is worse than"
    flipped = stored.flipped()
    assert (flipped.a, flipped.b, flipped.mean_diff) == ("bilstm-smote", "rf", 0.02)
    assert (flipped.ci_low, flipped.ci_high, flipped.t) == (0.01, 0.03, 4.0)
    assert verdict(flipped) == "beats"
    assert because(flipped) == "(difference +2.00 points, 95% CI +1.00 to +3.00, p = 0.01)"


def test_a_gain_shows_both_arms_means_on_its_own_folds():
    """An arm run on the first seed only is compared with its reference on those folds,
    whose mean there differs from the reference's mean over every fold (a reviewer read
    finetune 70.29 beside human_bilstm 71.88 as -1.59, where the paired gain was -0.24)."""
    raw = {"a": "finetune", "b": "human_bilstm", "metric": "macro_f1", "mean_diff": -0.0024}
    gain = Comparison.from_json(raw | {"ci_low": -0.16, "ci_high": 0.16, "p": 0.97})
    assert (gain.mean_a, gain.mean_b) == (None, None)  # results written before them
    assert transfer_sections._paired_means(gain) == "-"
    gain = Comparison.from_json(raw | {"mean_a": 0.7029, "mean_b": 0.7053, "n_folds": 5})
    assert transfer_sections._paired_means(gain) == "70.29 / 70.53"
    assert transfer_sections._paired_means(gain.flipped()) == "70.53 / 70.29"
    nan = Comparison.from_json(raw | {"mean_a": float("nan"), "mean_b": 0.7})  # a CSV's NaN
    assert nan.mean_a is None


def test_the_papers_claimed_differences_are_set_against_our_interval():
    assert PAPER_DIFFERENCES == {"mouse_bilstm_minus_rf": 1.63, "transfer_gain": 2.15}
    ours = Difference(mean_diff=-0.0118, ci_low=-0.0270, ci_high=0.0035, p=0.12)
    assert "+1.63 points" in paper_sections._paper_difference(ours, 1.63)
    assert paper_sections._paper_difference(ours, 1.63).endswith("lies outside this interval.")
    assert paper_sections._paper_difference(ours, -1.0).endswith("lies inside this interval.")
    assert paper_sections._paper_difference(Difference(0.01, None, None, None), 1.63) == ""


def test_one_document_gives_both_formats(tmp_path):
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "a.png").write_bytes(b"not really a png")
    b = ReportBuilder(tmp_path, "A <title>")
    b.para("intro", "note")
    b.nav_here()
    b.section("First", lambda: (b.heading("Scores & more"), b.bullets(["one", "two"])))
    b.section("Empty", lambda: None)  # wrote nothing: no link
    b.section(
        "Second",
        lambda: (
            b.heading("Tables"),
            b.table(["x", "y"], [[1, "a|b"]], "a caption"),
            b.figures([tmp_path / "figs" / "a.png", tmp_path / "figs" / "missing.png"], "cap"),
            b.bullets([]),  # nothing
        ),
    )
    document = b.document()
    page, md = render_html(document), render_markdown(document)

    nav = re.search(r"<nav>(.*?)</nav>", page).group(1)
    assert nav == "<a href='#scores---more'>First</a><a href='#tables'>Second</a>"
    assert '<h2 id="scores---more">Scores &amp; more</h2>' in page
    assert "<h1>A &lt;title&gt;</h1>" in page and '<p class="note">intro</p>' in page
    assert "<td>a|b</td>" in page and "<caption>a caption</caption>" in page
    assert page.count("<figure") == 1 and "data:image/png;base64," in page
    assert "<p class='caption'>cap</p>" in page and "<script" not in page

    assert md.startswith("# A <title>\n") and "<nav>" not in md
    assert "\n## Scores & more\n" in md and "\n- one\n- two\n" in md
    assert "| 1 | a\\|b |" in md and "\na caption\n" in md
    assert "![figs/a.png](figs/a.png)" in md and "missing.png" not in md


def test_facts_a_run_did_not_record_are_left_out_not_looked_up(tmp_path):
    """A qc.json written before the qc stage recorded the feature counts: the report says
    less, and reads nothing else to fill the gap."""
    old = {
        "mouse": {"n_cells_with_features": 10, "notes": [], "schemes": {}},
        "human": {"n_cells_with_features": 5, "notes": ["a note"], "schemes": {}},
    }
    facts = DataFacts.from_json(old)
    assert [s.species for s in facts.species] == ["mouse", "human"]
    assert facts.aligned_features is None and facts.of("human").n_features is None
    assert facts.of("human").subclass_columns_disagree is None

    def transfer_text(aligned: int | None) -> str:
        b = ReportBuilder(tmp_path, "t")
        transfer_section(b, TransferResults({}, aligned))
        return render_markdown(b.document())

    assert "on the aligned features." in transfer_text(None)
    assert "on 25 aligned features." in transfer_text(25)

    new = {**old, "human": {**old["human"], "n_features": 93, "subclass_columns_disagree": 81}}
    facts = DataFacts.from_json({**new, "aligned": {"n_features": 25}})
    assert facts.aligned_features == 25 and facts.of("human").n_features == 93
    assert facts.of("human").subclass_columns_disagree == 81
    assert facts.of("mouse").subclass_columns_disagree is None


def test_a_held_out_datasets_batch_check_shows_how_far_its_estimate_was_off(tmp_path):
    """The estimate minus the real accuracy and the share flagged (each flagged cell counts
    as wrong) beside the estimate, so a reader sees an estimate of 0 explained and an error
    larger than the allowance (a reviewer: chartrand2023_l1 estimated 13.3, 38.3 right)."""
    raw = {
        "model": "rf-deployed",
        "seed": 0,
        "fold": 1,
        "n_test": 203,
        "out_of_distribution": 0.039,
        "batch_shift_detected": 1.0,
        "batch_warned": 1.0,
        "estimated_accuracy": 0.133,
        "estimated_accuracy_low": 0.0,
        "estimated_accuracy_high": 0.514,
        "batch_shift_allowance": 0.211,
        "stated_accuracy": 0.79,
        "real_accuracy": 0.383,
    }
    check = BatchCheck.from_json(raw)
    assert check.error == pytest.approx(-0.25) and check.flagged == 0.039
    assert BatchCheck.from_json(raw | {"real_accuracy": float("nan")}).error is None
    fold = {
        "held_out": "chartrand2023_l1",
        "n_test": 203,
        "n_train": 414,
        "train_cells_of_shared_donors_removed": 0,
        "test_classes_missing_from_training": [],
        "test_cells_of_those_classes": 0,
    }
    held_out = HeldOutDatasets.from_json(
        {"dataset": {"held_out_folds": [fold, fold]}, "batch_checks": [raw]}
    )
    b = ReportBuilder(tmp_path, "t")
    datasets_section(b, (DatasetResults("human", held_out, None),))
    md = render_markdown(b.document())
    assert "| flagged | estimated accuracy [interval] |" in md
    assert "| 3.9 | 13.3 [0.0, 51.4] | 79.0 | 38.3 | -25.0 |" in md
    assert "at least 21 points either side" in md


def test_headings_of_the_same_text_get_ids_of_their_own(tmp_path):
    """The classifier and attention sections both head a part 'mouse, labels mouse5': two
    equal ids on one page (a reviewer), so a link to the second went to the first."""
    b = ReportBuilder(tmp_path, "t")
    b.nav_here()
    b.section("A", lambda: (b.heading("Top"), b.heading("mouse, labels mouse5", 3)))
    b.section("B", lambda: (b.heading("Other"), b.heading("mouse, labels mouse5", 3)))
    page = render_html(b.document())
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids)) == 4
    assert "mouse--labels-mouse5" in ids and "mouse--labels-mouse5-2" in ids
    # a heading whose own id is another's numbered one
    blocks = [Heading("X", 3), Heading("X 2", 3), Heading("X", 3)]
    assert unique_anchors(blocks) == ["x", "x-2", "x-3"]
    assert "<a href='#top'>A</a><a href='#other'>B</a>" in page


def test_the_t_type_section_says_whether_its_promise_and_target_held():
    row = {
        "model": "rf-deployed",
        "level": "t-type",
        "balanced_accuracy": 0.365,
        "balanced_accuracy_ci_low": 0.334,
        "balanced_accuracy_ci_high": 0.396,
        "coverage": 0.90,
        "mean_set_size": 20.43,
        "called": 0.0,
    }
    levels = Levels(0.9, 3, 55, 5, (LevelRow.from_json(row),), {})
    said = ttype_sections._verdicts("mouse", levels)
    assert "held the true class of 90.0% of cells, within 2 points" in said[0]
    assert "no cell got a t-type call" in said[1] and "20.4 t-types" in said[1]
    assert said[2].endswith("against the target of 45%: missed.")
    wide = LevelRow.from_json(row | {"balanced_accuracy_ci_high": 0.47, "coverage": 0.85})
    said = ttype_sections._verdicts("mouse", Levels(0.9, 3, 55, 5, (wide,), {}))
    assert "85.0% of cells, below (the promise not kept), the promised 90%" in said[0]
    assert said[-1].endswith("not settled (the interval holds it; the mean is below).")
    assert not any("target" in line for line in ttype_sections._verdicts("human", levels))
    good = {"balanced_accuracy": 0.5, "balanced_accuracy_ci_low": 0.46}
    over = LevelRow.from_json(row | good | {"coverage": 0.95, "balanced_accuracy_ci_high": 0.54})
    said = ttype_sections._verdicts("mouse", Levels(0.9, 3, 55, 5, (over,), {}))
    assert "above (the promise kept, loosely)" in said[0]
    assert said[-1].endswith("50.0 [46.0, 54.0] against the target of 45%: met.")
    nan = float("nan")
    for missing, words in (
        ({"balanced_accuracy": nan}, "not measured, so not compared with the target of 45%."),
        (
            {"balanced_accuracy": 0.5, "balanced_accuracy_ci_low": nan},
            "50.0 (one fit, no interval), above the target of 45%.",
        ),
    ):
        said = ttype_sections._verdicts(
            "mouse", Levels(0.9, 3, 55, 5, (LevelRow.from_json(row | missing),), {})
        )
        assert said[-1].endswith(words), said[-1]


def test_attention_is_said_to_track_importance_only_when_the_ranks_can_tell():
    families = ["a", "b", "c", "d", "e"]
    same = Attention(
        dict(zip(families, [5, 4, 3, 2, 1], strict=True)),
        dict(zip(families, [0.5, 0.4, 0.3, 0.2, 0.1], strict=True)),
        1.0,
        5,
        None,
        None,
    )
    said = classifier_sections._attention_verdict("mouse", same)
    # 5 families: rho = 1 has an exact two-sided p of 2/120
    assert "exact permutation p = 0.017" in said
    assert said.endswith("agrees with their importance's more than chance would.")
    mixed = Attention(
        same.mean_attention,
        dict(zip(families, [0.1, 0.5, 0.2, 0.4, 0.3], strict=True)),
        -0.5,
        5,
        None,
        None,
    )
    said = classifier_sections._attention_verdict("mouse", mixed)
    assert said.startswith("mouse: rho = -0.50 over 5 families") and "no evidence" in said
    # beyond 8 families, a seeded draw of orders, not called exact
    many = [f"f{i}" for i in range(9)]
    nine = Attention(
        dict(zip(many, range(9), strict=True)),
        dict(zip(many, range(9), strict=True)),
        1.0,
        9,
        None,
        None,
    )
    said = classifier_sections._attention_verdict("human", nine)
    assert "permutation p (9,999 orders drawn) = 0.0002" in said and "exact" not in said
    assert said == classifier_sections._attention_verdict("human", nine)


def test_cells_measured_partly_say_what_a_guess_and_abstention_explain(tmp_path):
    """The imputed arm of a few features is about a majority-class guess (52.55% = 350 of 666
    human cells, Pvalb), and the deployed arm's accuracy counts its unassigned cells as wrong:
    the report says both (a reviewer)."""
    score = {"mean": 0.53, "sd": 0.01, "ci_low": 0.52, "ci_high": 0.54}
    arm = {"accuracy": score, "macro_f1": score}
    one_set = {
        "n_features": 6,
        "features": ["a"],
        "expected_accuracy": 0.7,
        "imputed": arm["accuracy"],
        "routed": arm["accuracy"],
        "subset": arm["accuracy"],
        "assigned": 0.9,
        "accuracy_of_calls": 0.75,
        "routed_minus_subset": {"mean_diff": 0.0, "ci_low": -0.01, "ci_high": 0.01, "p": 1.0},
    }
    raw = {
        "species": "human",
        "labels": "revised",
        "n_cells": 666,
        "model": "rf",
        "protocol": {"name": "strat5x5", "folds": 5, "seeds": 1},
        "sets": [one_set],
        "summary": {
            "n_sets": 1,
            "mean_accuracy": {"imputed": 0.53, "routed": 0.69, "subset": 0.71},
            "routed_within_subset_interval": 1,
            "mean_assigned": 0.91,
        },
    }

    def note(raw) -> str:
        b = ReportBuilder(tmp_path, "t")
        feature_subsets_section(b, (FeatureSubsets.from_json(tmp_path, raw),))
        return render_markdown(b.document())

    said = note(raw | {"majority_share": 350 / 666})
    assert "most common class scores 52.6%" in said and "within 0.4 points of that guess" in said
    assert "most common class" in note(raw | {"majority_share": 0.57})  # the guess above it
    assert "most common class" not in note(raw)  # not recorded: nothing said
    assert "most common class" not in note(raw | {"majority_share": 0.3})  # far from it
    subset = {
        "name": "subthreshold+spike_train",
        "imputed": arm,
        "deployed": arm,
        "subset": arm,
        "deployed_minus_imputed": {"mean_diff": 0.1, "ci_low": 0.05, "ci_high": 0.15, "p": 0.01},
    }
    assert ProtocolSubset.from_json(subset).deployed_called is None
    assert ProtocolSubset.from_json(subset | {"deployed_assigned": 0.955}).deployed_called == 0.955


def test_the_separation_table_says_how_many_folds_and_seeds_its_knn_ran(tmp_path):
    """The k-NN of the sPCA stage runs on the first seed only, in a report of 3 seeds."""
    knn = {"mean": 0.88, "sd": 0.01, "ci_low": 0.86, "ci_high": 0.9, "n_folds": 5}
    raw = {
        "dataset": {"species": "mouse"},
        "n_components": 23,
        "silhouette_per_class": {"Pvalb": 0.2},
        "silhouette_all": 0.1,
        "knn": {
            "spca": {"accuracy": knn | {"per_seed": {"0": 0.88}}},
            "standardized": {"accuracy": knn},
        },
    }
    separation = Separation.from_json(tmp_path, raw)
    assert (separation.knn_folds, separation.knn_seeds) == (5, 1)
    three = {"spca": {"accuracy": knn | {"n_folds": 15, "per_seed": {"0": 1, "1": 1, "2": 1}}}}
    b = ReportBuilder(tmp_path, "t")
    spca = Separation.from_json(
        tmp_path, raw | {"knn": three | {"standardized": {"accuracy": knn}}}
    )
    spca_section(b, SeparationResults((spca,), None, "spca_human"))
    assert "mouse: 5 folds x 3 seeds." in render_markdown(b.document())
    old = Separation.from_json(
        tmp_path,
        raw | {"knn": {"spca": {"accuracy": {"mean": 0.88}}, "standardized": {"accuracy": knn}}},
    )
    assert (old.knn_folds, old.knn_seeds) == (None, None)
