"""A tiny random GLM-4.1V model built locally and served with ``transformers serve`` for integration tests."""

from .builder import ANSWER, REASONING, build_tiny_glmv
from .server import TinyGlmvServer

__all__ = ["ANSWER", "REASONING", "TinyGlmvServer", "build_tiny_glmv"]
