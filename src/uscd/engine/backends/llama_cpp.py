"""llama.cpp backend (llama-cpp-python's low-level API): one model, cheap sequences.

Every sequence here is its own llama context sharing one loaded model: for the mostly-Q5_0
0.5B model two single-sequence contexts stepped one after the other are faster than one context
decoding a batch of two (shared/docs/runtime.md §4.4), and the weights are loaded once.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np

from uscd.engine.backends import Capabilities
from uscd.errors import ContextFull, UscdError

try:
    import llama_cpp
except ImportError as exc:  # pragma: no cover - depends on the install
    raise UscdError("the llama.cpp backend needs llama-cpp-python: pip install 'uscd[llama]'") from exc


_LOG_LOCK = threading.Lock()
_log_lines: list[str] = []
_GGML_LOG_LEVEL_ERROR = 4


@llama_cpp.llama_log_callback
def _quiet_log(level, text, _user_data):  # keep errors for messages; drop llama.cpp's chatter
    if level == _GGML_LOG_LEVEL_ERROR and text:
        with _LOG_LOCK:
            _log_lines.append(text.decode("utf-8", "replace").strip())
            del _log_lines[:-20]


_initialised = False


def _init_once() -> None:
    global _initialised
    if not _initialised:
        llama_cpp.llama_backend_init()
        # the callback object is module-global: llama.cpp keeps a raw pointer to it
        llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p())
        _initialised = True


def _last_error() -> str:
    with _LOG_LOCK:
        lines = [line for line in _log_lines if line]
        _log_lines.clear()
    return lines[-1] if lines else "no reason given"


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class LlamaCppBackend:
    name = "llama.cpp"
    capabilities = Capabilities(multi_sequence=True, views=True)

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_batch: int = 512,
        n_threads: int | None = None,
    ) -> None:
        _init_once()
        self.path = Path(model_path)
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0
        self.model = llama_cpp.llama_model_load_from_file(str(self.path).encode(), params)
        if not self.model:
            raise UscdError(
                f"llama.cpp could not load {self.path} ({_last_error()}): the file is truncated, corrupt "
                "or not a supported GGUF model"
            )
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.vocab_size = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self.model))
        if n_ctx < 16:
            raise UscdError(f"n_ctx must be at least 16, got {n_ctx}")
        self.n_ctx = min(n_ctx, self.n_ctx_train) if self.n_ctx_train > 0 else n_ctx
        self.n_batch = n_batch
        self.n_threads = n_threads or default_threads()
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self.bos = int(llama_cpp.llama_vocab_bos(self.vocab))
        self._pieces: dict[int, bytes] = {}
        self._sequences: list[LlamaSequence | MultiSequenceContext] = []

    # -- vocabulary ----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a plain-text prompt, with the model's BOS rule; special tokens stay text."""
        return self._tokenize(text, parse_special=False)

    def _tokenize(self, text: str, *, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, self.add_bos, parse_special)
        if n < 0:  # pragma: no cover - cap is always enough for byte-level BPE
            raise UscdError("tokenization failed")
        return list(buf[:n])

    # -- chat support (used only by --prompt-style chat, see uscd.prompts.chat) -------------------

    def tokenize_special(self, text: str) -> list[int]:
        """Tokens of chat markup: special-token text (``<|im_start|>``) becomes the special token."""
        return self._tokenize(text, parse_special=True)

    def chat_template(self) -> str | None:
        """The GGUF's ``tokenizer.chat_template`` (jinja text), or None when it has none."""
        raw = llama_cpp.llama_model_chat_template(self.model, None)
        return raw.decode("utf-8") if raw else None

    def special_token_texts(self) -> dict[str, str]:
        """bos_token / eos_token as text, the variables a chat template may use."""
        out = {}
        ends = {
            "bos_token": llama_cpp.llama_vocab_bos(self.vocab),
            "eos_token": llama_cpp.llama_vocab_eos(self.vocab),
        }
        for name, token in ends.items():
            if token >= 0:
                buf = ctypes.create_string_buffer(128)
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 128, 0, True)
                out[name] = buf.raw[: max(n, 0)].decode("utf-8", "replace")
        return out

    def piece(self, token: int) -> bytes:
        cached = self._pieces.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            cached = self._pieces[token] = buf.raw[:n]
        return cached

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    # -- sequences -----------------------------------------------------------------------------

    def sequence(self) -> LlamaSequence:
        seq = LlamaSequence(self)
        self._sequences.append(seq)
        return seq

    def multi_sequence(self, n_seq: int, n_ctx: int) -> MultiSequenceContext:
        """One context holding n_seq sequences that share a pool of n_ctx KV cells."""
        ctx = MultiSequenceContext(self, n_seq, n_ctx)
        self._sequences.append(ctx)  # closed with the backend
        return ctx

    def release(self, seq: LlamaSequence | MultiSequenceContext) -> None:
        """Free a sequence or multi-sequence context before the backend closes."""
        seq.close()
        if seq in self._sequences:
            self._sequences.remove(seq)

    def describe(self) -> dict:
        return {
            "backend": self.name,
            "llama_cpp_python": getattr(llama_cpp, "__version__", "unknown"),
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_threads": self.n_threads,
            "vocab_size": self.vocab_size,
        }

    def close(self) -> None:
        for seq in self._sequences:
            seq.close()
        self._sequences.clear()
        if self.model:
            llama_cpp.llama_model_free(self.model)
            self.model = None

    def __enter__(self) -> LlamaCppBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _context_params(backend: LlamaCppBackend, n_ctx: int, n_seq: int = 1):
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = n_ctx
    params.n_batch = params.n_ubatch = backend.n_batch
    params.n_seq_max = n_seq
    params.n_threads = params.n_threads_batch = backend.n_threads
    params.no_perf = True
    return params


class LlamaSequence:
    """One token sequence in its own llama context (sequence id 0)."""

    def __init__(self, backend: LlamaCppBackend) -> None:
        self.backend = backend
        self.ctx = llama_cpp.llama_init_from_model(backend.model, _context_params(backend, backend.n_ctx))
        if not self.ctx:
            raise UscdError(
                f"llama.cpp could not create a context of {backend.n_ctx} tokens ({_last_error()})"
            )
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(backend.n_batch, 0, 1)
        self.tokens: list[int] = []
        self.n_evals = 0  # llama_decode calls, for the benchmarks

    def extend(self, tokens: Seq[int], *, copy: bool = True) -> np.ndarray:
        """Append tokens; return the logits after the last one.

        With ``copy=False`` the result is a view into llama.cpp's buffer, valid only until this
        sequence's next decode (each sequence has its own context); it saves a full-vocabulary copy
        per step when the caller is done with the row before then.
        """
        if not tokens:
            raise ValueError("extend() needs at least one token")
        if len(self.tokens) + len(tokens) > self.backend.n_ctx:
            raise ContextFull(
                f"the sequence would hold {len(self.tokens) + len(tokens)} tokens, more than the context "
                f"of {self.backend.n_ctx} (raise --n-ctx or lower --max-new-tokens)"
            )
        n_batch = self.backend.n_batch
        for start in range(0, len(tokens), n_batch):
            chunk = tokens[start : start + n_batch]
            self._decode(chunk, want_last=start + n_batch >= len(tokens))
        ptr = llama_cpp.llama_get_logits_ith(self.ctx, -1)
        row = np.ctypeslib.as_array(ptr, shape=(self.backend.vocab_size,))
        return row.copy() if copy else row

    def extend_rows(self, tokens: Seq[int], first: int = 0) -> np.ndarray:
        """Append tokens; the logits after each of tokens[first:] (copies), for teacher forcing."""
        if len(self.tokens) + len(tokens) > self.backend.n_ctx:
            raise ContextFull(
                f"{len(self.tokens) + len(tokens)} tokens do not fit the context of {self.backend.n_ctx}"
            )
        rows = []
        n_batch, vocab = self.backend.n_batch, self.backend.vocab_size
        for start in range(0, len(tokens), n_batch):
            chunk = tokens[start : start + n_batch]
            wanted = [j for j in range(len(chunk)) if start + j >= first]
            self._decode(chunk, want_last=False, want=wanted)
            for j in wanted:
                ptr = llama_cpp.llama_get_logits_ith(self.ctx, j)
                rows.append(np.ctypeslib.as_array(ptr, shape=(vocab,)).copy())
        return np.stack(rows) if rows else np.empty((0, vocab), dtype=np.float32)

    def _decode(self, chunk: Seq[int], *, want_last: bool, want: Seq[int] = ()) -> None:
        b = self.batch
        pos0 = len(self.tokens)
        b.n_tokens = len(chunk)
        for j, tok in enumerate(chunk):
            b.token[j] = tok
            b.pos[j] = pos0 + j
            b.n_seq_id[j] = 1
            b.seq_id[j][0] = 0
            b.logits[j] = False
        for j in want:
            b.logits[j] = True
        b.logits[len(chunk) - 1] = want_last or len(chunk) - 1 in want
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc != 0:
            # llama.cpp leaves the cache consistent with what it processed; drop it to stay in sync
            llama_cpp.llama_memory_seq_rm(self.mem, 0, pos0, -1)
            raise UscdError(f"llama_decode failed (code {rc}: {_last_error()})")
        self.tokens.extend(int(t) for t in chunk)
        self.n_evals += 1

    def truncate(self, n: int) -> None:
        if n < len(self.tokens):
            llama_cpp.llama_memory_seq_rm(self.mem, 0, n, -1)
            del self.tokens[n:]

    def reset(self) -> None:
        llama_cpp.llama_memory_clear(self.mem, True)
        self.tokens.clear()

    def copy_prefix_from(self, other: LlamaSequence, n: int) -> None:
        """Take the cache of other's first n tokens instead of evaluating them again."""
        n = min(n, len(other.tokens))
        self.reset()
        if n == 0:
            return
        size = llama_cpp.llama_state_seq_get_size(other.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        got = llama_cpp.llama_state_seq_get_data(other.ctx, buf, size, 0)
        if not got or not llama_cpp.llama_state_seq_set_data(self.ctx, buf, got, 0):
            raise UscdError("llama.cpp could not copy a sequence's cache between contexts")
        self.tokens = list(other.tokens)
        self.truncate(n)

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None


class MultiSequenceContext:
    """Several sequences in ONE llama context, advanced together by one ``llama_decode`` per call.

    The KV cache is *unified* (``kv_unified=True``): all sequences draw cells from one pool of
    ``n_ctx`` cells instead of each getting ``n_ctx / n_seq_max``, so a long prompt next to short
    ones fits, and ``copy_prefix`` between two sequences only tags the source's cells with the
    destination id (no data is copied). Without it llama.cpp keeps one stream per sequence, splits
    mixed batches into one micro-batch per equal-length group, and can copy only whole streams.

    ``decode(items)`` takes ``(seq_id, tokens, want_logits)`` items, lays them into as few batches
    of ``n_batch`` tokens as possible, and returns for each item the logits after its last token
    (or None). Rows from the last physical batch are views into llama.cpp's buffer, valid until the
    next ``decode``; rows of earlier chunks are copies.
    """

    def __init__(self, backend: LlamaCppBackend, n_seq: int, n_ctx: int) -> None:
        if n_seq < 1:
            raise UscdError(f"a multi-sequence context needs at least one sequence, got {n_seq}")
        self.backend = backend
        self.n_seq = n_seq
        self.n_ctx = n_ctx
        params = _context_params(backend, n_ctx, n_seq)
        params.kv_unified = True
        params.n_outputs_max = min(n_seq, backend.n_batch)  # one row per sequence and call at most
        self.ctx = llama_cpp.llama_init_from_model(backend.model, params)
        if not self.ctx:
            raise UscdError(
                f"llama.cpp could not create a context of {n_ctx} tokens for {n_seq} sequences "
                f"({_last_error()})"
            )
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.n_batch = backend.n_batch
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        b = self.batch
        self._token = np.ctypeslib.as_array(b.token, shape=(self.n_batch,))
        self._pos = np.ctypeslib.as_array(b.pos, shape=(self.n_batch,))
        self._n_seq_id = np.ctypeslib.as_array(b.n_seq_id, shape=(self.n_batch,))
        self._logits = np.ctypeslib.as_array(b.logits, shape=(self.n_batch,))
        self._seq_ptr = [b.seq_id[j] for j in range(self.n_batch)]
        self._n_seq_id[:] = 1
        self.tokens: list[list[int]] = [[] for _ in range(n_seq)]
        self.n_evals = 0  # llama_decode calls
        self.n_tokens_evaluated = 0

    def length(self, seq: int) -> int:
        return len(self.tokens[seq])

    def cells_used(self) -> int:
        """Cells the sequences hold, counting a shared prefix once per sequence (an upper bound)."""
        return sum(len(t) for t in self.tokens)

    def decode(self, items: Seq[tuple[int, Seq[int], bool]]) -> list[np.ndarray | None]:
        rows: list[np.ndarray | None] = [None] * len(items)
        # (item, seq, token, position, whether this is the item's last token and it wants logits)
        flat = [
            (k, seq, tok, len(self.tokens[seq]) + j, want and j == len(toks) - 1)
            for k, (seq, toks, want) in enumerate(items)
            for j, tok in enumerate(toks)
        ]
        if not flat:
            return rows
        for start in range(0, len(flat), self.n_batch):  # an item may straddle two chunks
            chunk = flat[start : start + self.n_batch]
            final = start + self.n_batch >= len(flat)
            n = len(chunk)
            wanted: list[tuple[int, int]] = []
            self._logits[:n] = 0
            for j, (k, seq, tok, pos, want_row) in enumerate(chunk):
                self._token[j] = tok
                self._pos[j] = pos
                self._seq_ptr[j][0] = seq
                if want_row:
                    self._logits[j] = 1
                    wanted.append((k, j))
            self.batch.n_tokens = n
            rc = llama_cpp.llama_decode(self.ctx, self.batch)
            if rc != 0:
                for seq in {c[1] for c in chunk}:  # keep the cache consistent with `tokens`
                    llama_cpp.llama_memory_seq_rm(self.mem, seq, len(self.tokens[seq]), -1)
                reason = "no room in the KV cache" if rc == 1 else _last_error()
                raise (
                    ContextFull(f"llama_decode failed (code {rc}: {reason})")
                    if rc == 1
                    else UscdError(f"llama_decode failed (code {rc}: {reason})")
                )
            self.n_evals += 1
            self.n_tokens_evaluated += n
            for _, seq, tok, _, _ in chunk:
                self.tokens[seq].append(int(tok))
            for k, j in wanted:
                row = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(self.ctx, j), shape=(self.backend.vocab_size,)
                )
                rows[k] = row if final else row.copy()
        return rows

    def remove(self, seq: int) -> None:
        llama_cpp.llama_memory_seq_rm(self.mem, seq, -1, -1)
        self.tokens[seq] = []

    def truncate(self, seq: int, n: int) -> None:
        if n < len(self.tokens[seq]):
            llama_cpp.llama_memory_seq_rm(self.mem, seq, n, -1)
            del self.tokens[seq][n:]

    def copy_prefix(self, src: int, dst: int, n: int) -> None:
        """Make dst the first n tokens of src, sharing src's cache cells."""
        n = min(n, len(self.tokens[src]))
        self.remove(dst)
        if n > 0:
            llama_cpp.llama_memory_seq_cp(self.mem, src, dst, 0, n)
            self.tokens[dst] = self.tokens[src][:n]

    def clear(self) -> None:
        llama_cpp.llama_memory_clear(self.mem, True)
        self.tokens = [[] for _ in range(self.n_seq)]

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
