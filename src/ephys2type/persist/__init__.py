"""Trained models as files: training on all cells (:mod:`.train`), the model-folder format
(:mod:`.format`), prediction from a features file (:mod:`.predict`)."""
