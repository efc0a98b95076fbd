"""Model layer: the model registry, in-fold preprocessing, baseline estimators, probability
calibration, the family-attention BiLSTM (:mod:`.bilstm`, needs torch) and the
cross-species transfer estimators (:mod:`.transfer`).

Importing this package or :mod:`.registry` does not import torch; the BiLSTM is imported
only when a BiLSTM model is built.
"""
