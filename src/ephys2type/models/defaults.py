"""The model ephys2type fits when none is named, in a module that imports nothing heavy (the
command line shows it in ``--help`` without loading scikit-learn or torch).

The random forest as ``train`` ships it: scored as each ships (``evaluate --model
rf-deployed --model bilstm-smote-deployed``, every bundled dataset, 5 folds x 3 seeds), the
BiLSTM was better in neither species and the forest better on human cells, and the batch
check's accuracy estimate errs less with it on cells unlike the training cells
(docs/shifted-batches.md, "The model train fits by default").
"""

from __future__ import annotations

#: What ``train`` (and so the app's bundled models) fits when no model is named.
DEFAULT_MODEL = "rf"
