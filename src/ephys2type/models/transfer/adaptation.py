"""Domain adaptation between species with skada: the source's features mapped onto the target's.

Each species is first imputed and standardized on its own cells; an adapter then moves the
source cells (and, for some methods, the target cells) so that the two species' feature
distributions agree, and a classifier learns from both. The adapters are skada's
(scikit-learn compatible, built on POT), not re-implementations; the registry below names
the ones ephys2type runs:

- ``coral``: correlation alignment (Sun et al. 2016): the source whitened and re-coloured with
  the target's covariance (Ledoit-Wolf shrinkage), both species centred;
- ``sa``: subspace alignment (Fernando et al. 2013): the source's principal subspace aligned
  onto the target's, both species projected (10 components);
- ``ot``: optimal transport mapping (Courty et al. 2017): each source cell moved to the
  barycentre of the target training cells it is transported to. Both species' labels are
  given, so a cell is only transported to target cells of its own class (POT's
  semi-supervised cost): class-aware, which recentring is not.

The target's labels are its training fold's, so no test cell is seen by an adapter.
skada imports torch, so it is imported when an adapter is built, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SOURCE, TARGET = 1, -1  # skada's sample_domain: positive for source, negative for target
#: Components of subspace alignment (fewer when there are fewer features).
SUBSPACE_COMPONENTS = 10


@dataclass(frozen=True)
class Adapter:
    """A named skada adapter: ``build(random_state, n_features)`` returns it unfitted."""

    name: str
    description: str
    build: Callable[[int | None, int], Any]
    uses_labels: bool = False


def _coral(random_state, n_features):
    from skada import CORALAdapter

    return CORALAdapter(reg="auto")


def _subspace(random_state, n_features):
    from skada import SubspaceAlignmentAdapter

    n = min(SUBSPACE_COMPONENTS, n_features)
    return SubspaceAlignmentAdapter(n_components=n, random_state=random_state)


def _transport(random_state, n_features):
    from skada import OTMappingAdapter

    return OTMappingAdapter()


#: The adapters ephys2type runs, in report order (an explicit registry: nothing is added on
#: import).
ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (
        Adapter("coral", "CORAL (skada)", _coral),
        Adapter("sa", "subspace alignment, 10 components (skada)", _subspace),
        Adapter("ot", "class-aware optimal transport mapping (skada)", _transport, True),
    )
}


def get_adapter(name: str) -> Adapter:
    """The adapter ``name`` (one clear error listing the names otherwise)."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown adapter {name!r}; adapters: {', '.join(ADAPTERS)}")
    return ADAPTERS[name]


class SpeciesAdapter:
    """A fitted adapter: :meth:`source` and :meth:`target` map each species' standardized
    features into the shared space."""

    def __init__(self, name: str, random_state: int | None = None):
        self.name = name
        self.random_state = random_state

    def fit(
        self, source: np.ndarray, y_source, target: np.ndarray, y_target=None
    ) -> SpeciesAdapter:
        """Fit on the source cells and the target cells (labels as given; ``y_target`` None:
        the target is unlabelled, e.g. a new batch, and the transport is class-blind there)."""
        spec = get_adapter(self.name)
        X = np.vstack([source, target])
        domain = np.r_[np.full(len(source), SOURCE), np.full(len(target), TARGET)]
        y = None
        if spec.uses_labels:
            ys = np.asarray(y_source, dtype=object)
            classes = {c: i for i, c in enumerate(np.unique(ys))}
            yt = np.full(len(target), -1)  # POT's mark of an unlabelled cell
            if y_target is not None:
                yt = np.array([classes.get(c, -1) for c in np.asarray(y_target, dtype=object)])
            y = np.r_[np.array([classes[c] for c in ys]), yt]
        self.adapter_ = spec.build(self.random_state, X.shape[1])
        self.adapter_.fit(X, y, sample_domain=domain)
        return self

    def source(self, X: np.ndarray) -> np.ndarray:
        """Source cells in the shared space."""
        domain = np.full(len(X), SOURCE)
        return np.asarray(self.adapter_.transform(X, sample_domain=domain, allow_source=True))

    def target(self, X: np.ndarray) -> np.ndarray:
        """Target cells (training or new) in the shared space."""
        return np.asarray(self.adapter_.transform(X, sample_domain=np.full(len(X), TARGET)))

    def source_onto_target(self, X: np.ndarray) -> np.ndarray:
        """Source cells in the target's own coordinates (the target left as it is): the
        shared space shifted back by the target's mean. CORAL only."""
        if self.name != "coral":
            raise ValueError("only CORAL maps the source into the target's own coordinates")
        return self.source(X) + self.adapter_.mean_target_
