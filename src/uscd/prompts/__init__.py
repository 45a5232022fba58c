"""Prompts: the lame prompt derivation (``lame``) and the builders of every auxiliary prompt a
decoding rule can declare (``auxiliary``)."""
