"""minilm-repro: a reproduction and benchmark suite for MiniLM (Wang et al., 2020)."""

__version__ = "0.1.0"
