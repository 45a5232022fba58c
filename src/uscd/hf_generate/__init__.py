"""uscd's decoding rules as a transformers ``custom_generate`` method: ``CUSTOM_GENERATE`` is the
local folder to pass as ``model.generate(..., custom_generate=CUSTOM_GENERATE, trust_remote_code=True)``;
``method.generate`` is the function transformers calls (usable directly too)."""

from pathlib import Path

CUSTOM_GENERATE = str(Path(__file__).resolve().parent)

__all__ = ["CUSTOM_GENERATE"]
