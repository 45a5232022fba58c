"""What ``model.generate(custom_generate=uscd.hf_generate.CUSTOM_GENERATE)`` runs: HF tensors in,
uscd's engine (the rules of ``uscd.methods``, the batched driver on the HF backend), HF tensors out.

Padding is read off the attention masks (left or right), so each row is decoded from its own
tokens; rows go through ``BatchedDecoder`` (``batch_size`` rows per forward pass, default all), or
the single-sequence ``Decoder`` with ``batch_size=1``. The result is ``input_ids`` followed by the
new tokens (the end-of-generation token included, as transformers does), right-padded.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from uscd.engine import BatchedDecoder, Decoder, Generation, GenerationConfig, Request
from uscd.engine.backends.transformers import TransformersBackend
from uscd.errors import UscdError
from uscd.methods import Rule, Sampler, make_rule

# transformers' own generate arguments that this method cannot honour: refused, never ignored
_UNSUPPORTED = (
    "logits_processor",
    "stopping_criteria",
    "prefix_allowed_tokens_fn",
    "assistant_model",
    "streamer",
    "negative_prompt_ids",
    "negative_prompt_attention_mask",
)
# model kwargs that change nothing here
_HARMLESS = {"use_cache", "output_attentions", "output_hidden_states", "synced_gpus"}


def generate(
    model,
    inputs: torch.Tensor | None = None,
    generation_config=None,
    *,
    lame_input_ids: torch.Tensor | None = None,
    lame_attention_mask: torch.Tensor | None = None,
    aux_input_ids: Mapping[str, torch.Tensor] | None = None,
    aux_attention_mask: Mapping[str, torch.Tensor] | None = None,
    rule: str | Rule = "uscd",
    rule_options: Mapping | None = None,
    batch_size: int | None = None,
    tokenizer=None,
    seed: int | None = None,
    **kwargs,
):
    """Decode every row of `input_ids` with a uscd rule (see the package README for the arguments)."""
    for name in _UNSUPPORTED:
        if kwargs.pop(name, None) is not None:
            raise ValueError(f"uscd's custom_generate does not support {name}")
    input_ids = inputs if inputs is not None else kwargs.pop("input_ids", None)
    if input_ids is None:
        raise ValueError("uscd's custom_generate needs input_ids")
    attention_mask = kwargs.pop("attention_mask", None)
    config, model_kwargs = model._prepare_generation_config(generation_config, **kwargs)
    unknown = sorted(k for k, v in model_kwargs.items() if v is not None and k not in _HARMLESS)
    if unknown:
        raise ValueError(f"uscd's custom_generate does not take {', '.join(unknown)}")
    aux = {"lame": (lame_input_ids, lame_attention_mask)} if lame_input_ids is not None else {}
    for name, ids in (aux_input_ids or {}).items():
        aux[name] = (ids, (aux_attention_mask or {}).get(name))
    chosen = rule if isinstance(rule, Rule) else make_rule(rule, **dict(rule_options or {}))
    requests = _requests(input_ids, attention_mask, aux, chosen, config, seed)
    backend = TransformersBackend.from_model(model, tokenizer)
    if config.eos_token_id is not None:  # as transformers does: the generation config's ends, only
        eos = config.eos_token_id
        backend.eog = frozenset([eos] if isinstance(eos, int) else eos)
    new_tokens = _decode(backend, requests, batch_size or len(requests))
    return _output(input_ids, new_tokens, config)


def _rows(ids: torch.Tensor, mask: torch.Tensor | None) -> list[tuple[int, ...]]:
    """Each row's tokens without its padding (the positions the attention mask zeroes)."""
    if ids.dim() != 2:
        raise ValueError(f"input ids must be a [batch, length] tensor, got shape {tuple(ids.shape)}")
    ids = ids.cpu()
    keep = torch.ones_like(ids, dtype=torch.bool) if mask is None else mask.cpu().bool()
    return [tuple(int(t) for t in row[k]) for row, k in zip(ids, keep, strict=True)]


def _requests(input_ids, attention_mask, aux: dict, rule: Rule, config, seed) -> list[Request]:
    prompts = _rows(input_ids, attention_mask)
    aux_rows = {name: _rows(ids, mask) for name, (ids, mask) in aux.items()}
    for name, rows in aux_rows.items():
        if len(rows) != len(prompts):
            raise ValueError(f"{name}_input_ids has {len(rows)} rows, input_ids {len(prompts)}")
    missing = [name for name in rule.aux if name not in aux_rows]
    if missing:
        raise ValueError(f"rule {rule.name} needs {missing[0]}_input_ids")
    settings = _settings(config, input_ids.shape[1])
    return [
        Request(
            prompt,
            {name: aux_rows[name][k] for name in rule.aux} or None,
            rule,
            _sampler(config, None if seed is None else seed + k),
            settings,
        )
        for k, prompt in enumerate(prompts)
    ]


def _settings(config, prompt_length: int) -> GenerationConfig:
    new = config.max_new_tokens
    if new is None:
        new = max(int(config.max_length or 20) - prompt_length, 1)
    stops = config.stop_strings or ()
    return GenerationConfig(
        max_new_tokens=int(new), stop=(stops,) if isinstance(stops, str) else tuple(stops)
    )


def _sampler(config, seed: int | None) -> Sampler:
    if not config.do_sample:
        return Sampler()
    temperature = config.temperature if config.temperature is not None else 1.0
    return Sampler(temperature, config.top_p or 1.0, config.top_k or 0, seed)


def _decode(backend, requests: list[Request], batch_size: int) -> list[list[int]]:
    """Each request's new tokens, the end-of-generation token included when it ended so."""
    last: dict[int, int] = {}
    results: dict[int, Generation | UscdError] = {}
    if batch_size == 1:
        decoder = Decoder(backend)
        for k, r in enumerate(requests):
            hook = lambda i, view, aux, step, token, k=k: last.__setitem__(k, token)  # noqa: E731
            results[k] = decoder.generate(r.prompt, r.aux_prompts, r.rule, r.sampler, r.config, hook=hook)
    else:
        batched = BatchedDecoder(backend, batch_size)
        try:
            hook = lambda k, i, view, aux, step, token: last.__setitem__(k, token)  # noqa: E731
            results = dict(batched.generate_many(requests, hook))
        finally:
            batched.close()
    out = []
    for k in range(len(requests)):
        gen = results[k]
        if isinstance(gen, UscdError):
            raise gen
        out.append(gen.tokens + ([last[k]] if gen.finish_reason == "eos" else []))
    return out


def _output(input_ids: torch.Tensor, new_tokens: list[list[int]], config):
    pad = config.pad_token_id if config.pad_token_id is not None else config.eos_token_id
    if isinstance(pad, list | tuple):
        pad = pad[0] if pad else None
    width = max((len(t) for t in new_tokens), default=0)
    tail = torch.full((len(new_tokens), width), int(pad or 0), dtype=input_ids.dtype)
    for k, tokens in enumerate(new_tokens):
        tail[k, : len(tokens)] = torch.tensor(tokens, dtype=input_ids.dtype)
    sequences = torch.cat([input_ids, tail.to(input_ids.device)], dim=1)
    if config.return_dict_in_generate:
        from transformers.generation.utils import GenerateDecoderOnlyOutput

        return GenerateDecoderOnlyOutput(sequences=sequences)
    return sequences
