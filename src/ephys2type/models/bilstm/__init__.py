"""The attention BiLSTM over IPFX feature families: the torch network (:mod:`.network`),
its training loop (:mod:`.training`) and the scikit-learn estimator (:mod:`.estimator`)."""

#: Training epochs of every BiLSTM unless a model says otherwise (early stopping usually ends
#: training first); here, apart from torch, so a model's spec can record it.
MAX_EPOCHS = 150
