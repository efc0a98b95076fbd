"""Per-cell explanations of fitted models, whatever wraps them."""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline


def explain(estimator, X) -> pd.DataFrame | None:
    """Per-cell explanation (e.g. attention over families) if the model offers one.

    ``estimator`` may be a pipeline (its last step is asked, on the transformed cells) or
    any estimator with an ``explain(X)`` method; otherwise None.
    """
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    method = getattr(final, "explain", None)
    if not callable(method):
        return None
    Xt = estimator[:-1].transform(X) if isinstance(estimator, Pipeline) else X
    result = method(Xt)
    return None if result is None else result.reset_index(drop=True)
