"""The names and defaults of the transfer experiment, in a module that imports nothing heavy
(the command line shows them in ``--help`` without loading scikit-learn or torch)."""

from __future__ import annotations

#: Transfer strategies of :class:`~.estimators.TransferClassifier`, in report order.
STRATEGIES = ("zero-shot", "finetune", "freeze-warmup", "joint")
#: Baselines fitted on both species' cells (:class:`~.estimators.PooledClassifier`).
POOLED = ("rf", "hgb")
#: Domain adaptation between the species before pooled gradient boosting (skada adapters of
#: :mod:`~.adaptation`): CORAL, subspace alignment, class-aware optimal transport.
ADAPTERS = ("coral", "sa", "ot")
#: Heterogeneous transfer: strategies run on the aligned families plus the target's own
#: families (pretrained on the source, whose own families are masked).
HETEROGENEOUS = ("finetune", "joint")
#: Learning-curve shares of the target training fold.
FRACTIONS = (0.1, 0.25, 0.5)
#: The strategy on the learning curve when none is named (if it is run).
CURVE_ARM = "joint"
#: Target-only models on all the target's own features (the best model a lab has without
#: the source species), compared with every transfer arm on the same folds.
NATIVE = ("hgb",)
#: Few-shot points: target training cells per class.
PER_CLASS = (10, 25, 50)
