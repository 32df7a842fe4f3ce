"""Evaluation of saved predictions: scoring a ``--save-predictions`` file per label space (``emotion-score``)."""
