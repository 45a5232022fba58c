"""uscd: uncertainty-aware selective contrastive decoding (arXiv 2409.05923) for code LLMs."""

__version__ = "0.1.0"
