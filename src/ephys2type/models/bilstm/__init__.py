"""The attention BiLSTM over IPFX feature families: the torch network (:mod:`.network`),
its training loop (:mod:`.training`) and the scikit-learn estimator (:mod:`.estimator`)."""
