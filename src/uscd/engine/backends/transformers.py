"""HF transformers backend: the same sequences over a torch model, for GPUs (and CPU checks).

A GGUF file is dequantized by transformers on load (it has no packed path for qwen2/llama), so
on CPU the llama.cpp backend is 3-6x faster; this backend exists for GPUs and for HF model
folders. Each single sequence owns a DynamicCache; prefix copies are deep copies cropped to length.
The batched driver's multi-sequence context (many sequences per forward pass, left padding, an
explicit mask and position ids) is ``transformers_multi.TransformersMultiSequence``.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Sequence as Seq
from functools import cache
from pathlib import Path

import numpy as np

from uscd.engine.backends import Capabilities
from uscd.engine.backends.transformers_multi import TransformersMultiSequence
from uscd.errors import ContextFull, UscdError

try:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
except ImportError as exc:  # pragma: no cover - depends on the install
    raise UscdError(f"the hf backend needs {exc.name}: pip install 'uscd[hf]'") from exc

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16"}
DTYPES |= {"float16": "float16", "fp16": "float16", "half": "float16"}
_EOG_TEXTS = ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<|EOT|>")
_HEX_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _dtype_name(name: str) -> str:
    try:
        return DTYPES[name.lower()]
    except KeyError:
        raise UscdError(f"unknown dtype {name!r}; choose float32, bfloat16 or float16") from None


def _attention_limit(config) -> int | None:
    """How far back some layer of the model may attend, when not all the way (sliding windows,
    chunked or linear attention): the batched context's own mask knows only full attention."""
    text = config.get_text_config()
    types = getattr(text, "layer_types", None)
    if types and all(t == "full_attention" for t in types):
        return None
    if types and not set(types) <= {"full_attention", "sliding_attention"}:
        return 0  # another kind of layer: never batch it
    if types is None and getattr(text, "use_sliding_window", True) is False:
        return None
    window = getattr(text, "sliding_window", None)
    return int(window) if window else None


@cache
def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's byte-to-unicode table used by byte-level BPE vocabularies."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


class TransformersBackend:
    name = "transformers"
    # rows are always fresh copies
    capabilities = Capabilities(multi_sequence=True, views=False)

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        device: str | None = None,
        dtype: str | None = None,
    ) -> None:
        self.path = Path(model_path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = _dtype_name(dtype or ("bfloat16" if self.device.startswith("cuda") else "float32"))
        if n_threads:
            torch.set_num_threads(n_threads)
        tokenizer, model = self._load()
        self._attach(tokenizer, model, n_ctx, n_batch)

    @classmethod
    def from_model(cls, model, tokenizer=None, *, n_ctx: int | None = None, n_batch: int = 512):
        """A backend over a model someone already loaded (``model.generate(custom_generate=...)``).
        Without a tokenizer, pieces are empty: no completion text, no stop sequences."""
        self = cls.__new__(cls)
        self.path = Path(getattr(model, "name_or_path", "") or "model")
        self.device = str(model.device)
        self.dtype = str(model.dtype).removeprefix("torch.")
        limit = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 20)
        self._attach(tokenizer, model, n_ctx or limit, n_batch)
        return self

    def _attach(self, tokenizer, model, n_ctx: int, n_batch: int) -> None:
        self.tokenizer, self.model = tokenizer, model
        self.n_threads = torch.get_num_threads()
        # transformers 5.24 names the KV cache `cache`; earlier releases `past_key_values`. An unknown
        # keyword would be swallowed by **kwargs and every step would run without its context.
        params = inspect.signature(self.model.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.vocab_size = int(self.model.config.vocab_size)
        self.n_ctx = min(n_ctx, int(getattr(self.model.config, "max_position_embeddings", n_ctx) or n_ctx))
        self.n_batch = n_batch
        self.eog = self._eog_ids()
        self._pieces: dict[int, bytes] = {}
        self._specials = set(self.tokenizer.all_special_ids) if self.tokenizer is not None else set()

    def _load(self):
        kwargs = {}
        source = str(self.path)
        if self.path.suffix.lower() == ".gguf":
            kwargs["gguf_file"] = self.path.name
            source = str(self.path.parent)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, self.dtype), **kwargs)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UscdError(f"transformers could not load {self.path}: {first}") from None
        return tokenizer, model.to(self.device).eval()

    def _eog_ids(self) -> frozenset[int]:
        ids = set()
        tokenizer_eos = self.tokenizer.eos_token_id if self.tokenizer is not None else None
        for source in (self.model.generation_config.eos_token_id, tokenizer_eos):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(source)
        if self.tokenizer is not None:
            vocab = self.tokenizer.get_vocab()
            ids.update(vocab[t] for t in _EOG_TEXTS if t in vocab)
        return frozenset(ids)

    # -- vocabulary ----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    # -- chat support (used only by --prompt-style chat, see uscd.prompts.chat) -------------------

    def tokenize_special(self, text: str) -> list[int]:
        return self.tokenize(text)  # HF tokenizers parse special-token text already

    def chat_template(self) -> str | None:
        template = getattr(self.tokenizer, "chat_template", None)
        return template if isinstance(template, str) else None

    def special_token_texts(self) -> dict[str, str]:
        names = ("bos_token", "eos_token")
        return {n: str(getattr(self.tokenizer, n)) for n in names if getattr(self.tokenizer, n, None)}

    def piece(self, token: int) -> bytes:
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._pieces[token] = self._piece(token)
        return cached

    def _piece(self, token: int) -> bytes:
        if self.tokenizer is None:
            return b""
        text = self.tokenizer.convert_ids_to_tokens(token)
        if text is None:
            return b""
        if token in self._specials:
            return b""  # like llama.cpp's token_to_piece(special=False)
        if m := _HEX_BYTE.match(text):
            return bytes([int(m.group(1), 16)])
        table = _byte_decoder()
        if all(ch in table for ch in text):
            return bytes(table[ch] for ch in text)
        return text.replace("\u2581", " ").encode("utf-8")

    def is_eog(self, token: int) -> bool:
        return token in self.eog

    # -- sequences -----------------------------------------------------------------------------

    def sequence(self) -> TransformersSequence:
        return TransformersSequence(self)

    def multi_sequence(self, n_seq: int, n_ctx: int) -> TransformersMultiSequence:
        """n_seq sequences advanced together by one forward pass per ``decode``."""
        limit = _attention_limit(self.model.config)
        if limit is not None and limit < self.n_ctx:
            raise UscdError(
                f"the batched hf context applies full attention only, and this model limits attention "
                f"to {limit} tokens in some layers: use --batch 1, or --n-ctx {limit}"
            )
        return TransformersMultiSequence(self, n_seq, n_ctx)

    def release(self, seq: TransformersSequence | TransformersMultiSequence) -> None:
        if isinstance(seq, TransformersMultiSequence):
            seq.close()
        else:
            seq.reset()

    def describe(self) -> dict:
        return {
            "backend": self.name,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "device": self.device,
            "dtype": self.dtype,
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_threads": self.n_threads,
            "vocab_size": self.vocab_size,
        }

    def close(self) -> None:
        self.model = None


class TransformersSequence:
    def __init__(self, backend: TransformersBackend) -> None:
        self.backend = backend
        self.cache = DynamicCache()
        self.tokens: list[int] = []

    @torch.inference_mode()
    def extend(self, tokens: Seq[int], *, copy: bool = True) -> np.ndarray:
        """Append tokens; the logits after the last one (always a fresh array: `copy` is moot here)."""
        if not tokens:
            raise ValueError("extend() needs at least one token")
        if len(self.tokens) + len(tokens) > self.backend.n_ctx:
            raise ContextFull(
                f"the sequence would hold {len(self.tokens) + len(tokens)} tokens, more than the context "
                f"of {self.backend.n_ctx} (raise --n-ctx or lower --max-new-tokens)"
            )
        logits = None
        for start in range(0, len(tokens), self.backend.n_batch):
            chunk = list(tokens[start : start + self.backend.n_batch])
            ids = torch.tensor([chunk], device=self.backend.device)
            kwargs = {self.backend.cache_arg: self.cache}
            out = self.backend.model(input_ids=ids, use_cache=True, logits_to_keep=1, **kwargs)
            self.cache = getattr(out, self.backend.cache_arg)
            self.tokens.extend(int(t) for t in chunk)
            logits = out.logits[0, -1]
        return logits.float().cpu().numpy()

    @torch.inference_mode()
    def extend_rows(self, tokens: Seq[int], first: int = 0) -> np.ndarray:
        """Append tokens; the logits after each of tokens[first:], for teacher forcing."""
        if len(self.tokens) + len(tokens) > self.backend.n_ctx:
            raise ContextFull(
                f"{len(self.tokens) + len(tokens)} tokens do not fit the context of {self.backend.n_ctx}"
            )
        rows = []
        for start in range(0, len(tokens), self.backend.n_batch):
            chunk = list(tokens[start : start + self.backend.n_batch])
            ids = torch.tensor([chunk], device=self.backend.device)
            out = self.backend.model(input_ids=ids, use_cache=True, **{self.backend.cache_arg: self.cache})
            self.cache = getattr(out, self.backend.cache_arg)
            self.tokens.extend(int(t) for t in chunk)
            keep = max(first - start, 0)
            rows.append(out.logits[0, keep:].float().cpu().numpy())
        return np.concatenate(rows)

    def truncate(self, n: int) -> None:
        if n < len(self.tokens):
            self.cache.crop(n - len(self.tokens))
            del self.tokens[n:]

    def reset(self) -> None:
        self.cache = DynamicCache()
        self.tokens = []

    def copy_prefix_from(self, other: TransformersSequence, n: int) -> None:
        self.cache = copy.deepcopy(other.cache)
        self.tokens = list(other.tokens)
        self.truncate(min(n, len(other.tokens)))
