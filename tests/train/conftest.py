"""The tiny training model for the tests in this folder."""

from support.train_data import tiny_model

__all__ = ["tiny_model"]
