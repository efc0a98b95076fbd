"""Re-estimating a batch's class proportions (Saerens et al. 2002)."""

from __future__ import annotations

import numpy as np
import pytest

from ephys2type.models.priors import adapt_priors


def _batch(priors, n, rng):
    """Cells of two Gaussian classes (means -1 and +1, SD 1) in the proportions ``priors``,
    with their exact posteriors under equal training priors."""
    y = rng.choice(2, size=n, p=priors)
    x = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)
    like = np.column_stack([np.exp(-((x + 1) ** 2) / 2), np.exp(-((x - 1) ** 2) / 2)])
    return like / like.sum(axis=1, keepdims=True), y


def test_em_recovers_the_batch_proportions_and_improves_the_calls():
    rng = np.random.default_rng(0)
    proba, y = _batch([0.9, 0.1], 4000, rng)
    shift = adapt_priors(proba, np.array([0.5, 0.5]))
    assert shift.converged and shift.priors == pytest.approx([0.9, 0.1], abs=0.03)
    before = np.mean(proba.argmax(axis=1) == y)
    after = np.mean(shift.probabilities.argmax(axis=1) == y)
    assert after > before + 0.03
    assert np.allclose(shift.probabilities.sum(axis=1), 1)


def test_a_batch_like_the_training_cells_keeps_its_proportions():
    rng = np.random.default_rng(1)
    proba, _ = _batch([0.5, 0.5], 4000, rng)
    shift = adapt_priors(proba, np.array([0.5, 0.5]))
    assert shift.priors == pytest.approx([0.5, 0.5], abs=0.03)


def test_bad_inputs():
    with pytest.raises(ValueError, match="do not match"):
        adapt_priors(np.ones((3, 2)) / 2, np.array([0.2, 0.3, 0.5]))
    with pytest.raises(ValueError, match="positive"):
        adapt_priors(np.ones((3, 2)) / 2, np.array([0.0, 1.0]))
    empty = adapt_priors(np.zeros((0, 2)), np.array([0.5, 0.5]))
    assert empty.n_iter == 0 and empty.priors.tolist() == [0.5, 0.5]


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_the_deployed_classifier_adapts_only_when_asked():
    from ephys2type import load_human
    from ephys2type.models.deployed import resolve_model

    data = load_human()
    spec = resolve_model("logreg-deployed-adapt")
    assert spec.name == "logreg-deployed-adapt" and spec.params["adapt_priors"] is True
    clf = spec.build(data.schema, 0).set_params(family_subsets=False)
    clf.fit(data.X, data.y.to_numpy(dtype=object))
    batch = data.X[(data.y == "Pvalb").to_numpy()].head(60)  # a batch of one class
    adapted = clf.predict_table(batch)
    assert adapted.attrs["batch_priors"]["Pvalb"] > adapted.attrs["training_priors"]["Pvalb"]
    plain = clf.set_params(adapt_priors=False).predict_table(batch)
    assert "batch_priors" not in plain.attrs
    assert (adapted["proba:Pvalb"] >= plain["proba:Pvalb"] - 1e-12).all()
    with pytest.raises(Exception, match="unknown model"):
        resolve_model("logreg-adapt")
