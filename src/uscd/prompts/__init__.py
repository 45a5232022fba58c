"""Prompts: the lame prompt derivation (``lame``), the builders of every auxiliary prompt a decoding
rule can declare (``auxiliary``), chat rendering with the model's own template (``chat``) and code
extraction from chat replies (``extract``)."""
