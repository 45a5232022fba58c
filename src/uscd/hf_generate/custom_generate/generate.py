"""transformers' custom decoding-method entry point for uscd (loaded by
``model.generate(..., custom_generate=<the folder above this one>, trust_remote_code=True)``).

transformers copies this file into its module cache and calls ``generate(model=..., **arguments)``;
the decoding itself is uscd's engine (``uscd.hf_generate.method``), so every uscd rule runs here
exactly as in ``uscd generate --backend hf``.
"""

from uscd.hf_generate.method import generate

__all__ = ["generate"]
