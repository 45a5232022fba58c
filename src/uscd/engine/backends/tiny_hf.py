"""A tiny random-weight Qwen2 model folder, built locally: for tests, benchmarks and device checks
that must run without the model hub (and without the default model).

The tokenizer is a byte-level BPE (the GPT-2 byte table Qwen's tokenizer uses too) trained on two
standard-library modules' source, so ``TransformersBackend.piece`` decodes it as it decodes Qwen's.
The weights are drawn from a seeded generator with a wide initializer: peaked next-token
distributions, so greedy comparisons rarely meet a near-tie (the default 0.02 gives near-uniform
logits where any rounding flips the argmax).
"""

from __future__ import annotations

import inspect
import string
import textwrap
from pathlib import Path

EOS_TEXT = "<|endoftext|>"


def build_tokenizer(vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([inspect.getsource(m) for m in (textwrap, string)], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TEXT, pad_token=EOS_TEXT)


def build_tiny_qwen2(
    folder: str | Path,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vocab_size: int = 600,
    max_positions: int = 4096,
    init_range: float = 0.2,
) -> Path:
    """Write a random Qwen2ForCausalLM and its tokenizer into `folder`; return the folder."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder = Path(folder)
    tokenizer = build_tokenizer(vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        initializer_range=init_range,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
