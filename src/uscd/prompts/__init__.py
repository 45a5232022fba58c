"""Prompt construction: chat rendering with the model's template, code extraction from replies."""
