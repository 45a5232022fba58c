"""Several sequences of the HF backend advanced by one forward pass: the batched driver's context.

Each sequence id owns a row of a KV pool per layer (``[n_seq, kv_heads, capacity + 1, head_dim]``,
its tokens left-aligned in columns ``0..length``; the last column is a bin for padding writes). A
``decode`` gathers the sequences it feeds into one padded batch:

    row r:  [ pad | past_r (its cached keys/values) ][ pad | new_r ]   (columns 0..Lp-1 | Lp..Lp+Ln-1)

Both halves are left-padded, so every row's last token sits in the last column (``logits_to_keep=1``
gives each row's next-token logits). An explicit 4D mask lets a real query see its own past and the
new tokens before it, nothing else; a padding query sees only itself (a query that sees nothing
gives NaN in attention, and NaN times a zero weight stays NaN). Position ids are explicit: a row's
new tokens sit at positions ``length_r ..``. The new keys/values are scattered back into the pool
(padding columns into the bin). ``copy_prefix`` copies pool columns between rows; ``truncate`` and
``remove`` only move a length.

Items of very different lengths (a prompt next to single decode tokens) go in separate forward
passes, so padding never costs more than a few times the real tokens.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import numpy as np
import torch
from transformers import DynamicCache

from uscd.errors import ContextFull, UscdError

# a group's longest item may be this many times its shortest; beyond it, a separate forward pass
PAD_RATIO = 4


class TransformersMultiSequence:
    """The ``MultiSequence`` protocol over a torch model (see the module docstring)."""

    def __init__(self, backend, n_seq: int, n_ctx: int, *, max_batch_tokens: int = 8192) -> None:
        if n_seq < 1:
            raise UscdError(f"a multi-sequence context needs at least one sequence, got {n_seq}")
        self.backend = backend
        self.n_seq = n_seq
        self.n_ctx = n_ctx
        self.max_batch_tokens = max(max_batch_tokens, backend.n_batch)
        self.tokens: list[list[int]] = [[] for _ in range(n_seq)]
        self._keys: list[torch.Tensor] = []  # per layer [n_seq, heads, capacity + 1, dim]
        self._values: list[torch.Tensor] = []
        self.n_evals = 0  # forward passes
        self.n_tokens_evaluated = 0  # padded positions included

    # -- bookkeeping ---------------------------------------------------------------------------

    def length(self, seq: int) -> int:
        return len(self.tokens[seq])

    def remove(self, seq: int) -> None:
        self.tokens[seq] = []

    def truncate(self, seq: int, n: int) -> None:
        del self.tokens[seq][n:]

    @torch.inference_mode()  # the pools are inference tensors
    def copy_prefix(self, src: int, dst: int, n: int) -> None:
        n = min(n, len(self.tokens[src]))
        self.tokens[dst] = self.tokens[src][:n]
        if n > 0 and src != dst:
            for pool in (*self._keys, *self._values):
                pool[dst, :, :n] = pool[src, :, :n]

    def clear(self) -> None:
        self.tokens = [[] for _ in range(self.n_seq)]

    def close(self) -> None:
        self._keys, self._values = [], []
        self.clear()

    @property
    def capacity(self) -> int:
        return self._keys[0].shape[2] - 1 if self._keys else 0

    # -- decoding ------------------------------------------------------------------------------

    def decode(self, items: Seq[tuple[int, Seq[int], bool]]) -> list[np.ndarray | None]:
        """(seq id, tokens, want logits) items; the logits after each wanted item's last token."""
        seqs = [seq for seq, _, _ in items]
        if len(set(seqs)) != len(seqs):
            raise UscdError("internal error: a sequence appears twice in one decode")
        for seq, toks, _ in items:
            if len(self.tokens[seq]) + len(toks) > self.backend.n_ctx:
                raise ContextFull(
                    f"the sequence would hold {len(self.tokens[seq]) + len(toks)} tokens, more than the "
                    f"context of {self.backend.n_ctx}"
                )
        rows: list[np.ndarray | None] = [None] * len(items)
        n_batch = self.backend.n_batch
        chunks = [[list(t[i : i + n_batch]) for i in range(0, len(t), n_batch)] for _, t, _ in items]
        for rnd in range(max((len(c) for c in chunks), default=0)):
            # (item, seq, tokens of this round, whether the item's logits come out of this round)
            work = [
                (k, items[k][0], c[rnd], items[k][2] and rnd == len(c) - 1)
                for k, c in enumerate(chunks)
                if rnd < len(c)
            ]
            for group in self._groups(work):
                self._forward(group, rows)
        return rows

    def _groups(self, work: list) -> list[list]:
        """Split one round's items into forward passes of similar lengths and bounded padded size."""
        groups: list[list] = []
        for item in sorted(work, key=lambda w: -len(w[2])):
            group = groups[-1] if groups else None
            longest = len(group[0][2]) if group else 0
            fits = group is not None and len(item[2]) * PAD_RATIO >= longest
            if fits and (len(group) + 1) * longest <= self.max_batch_tokens:
                group.append(item)
            else:
                groups.append([item])
        return groups

    @torch.inference_mode()
    def _forward(self, group: list, rows: list) -> None:
        backend = self.backend
        device = backend.device
        past = torch.tensor([len(self.tokens[seq]) for _, seq, _, _ in group], device=device)
        new = torch.tensor([len(toks) for _, _, toks, _ in group], device=device)
        n_past, n_new = int(past.max()), int(new.max())
        ids = torch.zeros((len(group), n_new), dtype=torch.long)
        for r, (_, _, toks, _) in enumerate(group):
            ids[r, n_new - len(toks) :] = torch.tensor(toks)
        ids = ids.to(device)
        offset = (n_new - new)[:, None]  # first real column of each row's new tokens
        q = torch.arange(n_new, device=device)[None, :]
        positions = (past[:, None] + q - offset).clamp(min=0)
        mask = _attention_mask(past, offset, n_past, n_new, backend.model.dtype)
        cache = self._gather([seq for _, seq, _, _ in group], past, n_past) if n_past else DynamicCache()
        out = backend.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{backend.cache_arg: cache},
        )
        self._scatter(group, getattr(out, backend.cache_arg), past, offset, n_past, n_new)
        wanted = [r for r, item in enumerate(group) if item[3]]
        if wanted:
            picked = out.logits[wanted, -1].float().cpu().numpy()
            for row, r in zip(picked, wanted, strict=True):
                rows[group[r][0]] = row
        self.n_evals += 1
        self.n_tokens_evaluated += len(group) * n_new

    def _gather(self, seqs: list[int], past: torch.Tensor, n_past: int) -> DynamicCache:
        """The group's cached keys/values, right-aligned in n_past columns (left padding)."""
        index = torch.tensor(seqs, device=past.device)[:, None]
        cols = torch.arange(n_past, device=past.device)[None, :] - (n_past - past)[:, None]
        cols = cols.clamp(min=0)  # padding columns read column 0: finite, and masked out
        layers = [
            (k[index, :, cols].permute(0, 2, 1, 3), v[index, :, cols].permute(0, 2, 1, 3))
            for k, v in zip(self._keys, self._values, strict=True)
        ]
        return DynamicCache(layers)

    def _scatter(self, group, cache, past, offset, n_past: int, n_new: int) -> None:
        """Write each row's new keys/values after its cached ones (padding columns into the bin)."""
        layers = cache.layers
        self._reserve(layers, max(len(self.tokens[s]) + len(t) for _, s, t, _ in group))
        q = torch.arange(n_new, device=past.device)[None, :]
        dest = past[:, None] + q - offset
        dest = torch.where(q >= offset, dest, torch.full_like(dest, self.capacity))
        index = torch.tensor([seq for _, seq, _, _ in group], device=past.device)[:, None]
        for layer, k_pool, v_pool in zip(layers, self._keys, self._values, strict=True):
            k_pool[index, :, dest] = layer.keys[:, :, n_past:].permute(0, 2, 1, 3)
            v_pool[index, :, dest] = layer.values[:, :, n_past:].permute(0, 2, 1, 3)
        for _, seq, toks, _ in group:
            self.tokens[seq].extend(int(t) for t in toks)

    def _reserve(self, layers, needed: int) -> None:
        """Grow the pools (doubling, up to the backend's context) so `needed` columns fit."""
        if needed <= self.capacity:
            return
        like, n_layers = layers[0].keys, len(layers)
        capacity = min(max(needed, 2 * self.capacity, 256), self.backend.n_ctx)
        _, heads, _, dim = like.shape
        fresh = [
            torch.zeros((self.n_seq, heads, capacity + 1, dim), dtype=like.dtype, device=like.device)
            for _ in range(2 * n_layers)
        ]
        old = self.capacity
        for pool, grown in zip([*self._keys, *self._values], fresh, strict=False):  # none at first
            grown[:, :, :old] = pool[:, :, :old]
        self._keys, self._values = fresh[:n_layers], fresh[n_layers:]


def _attention_mask(past, offset, n_past: int, n_new: int, dtype) -> torch.Tensor:
    """[rows, 1, n_new, n_past + n_new] additive mask for the padded layout of the module docstring."""
    device = past.device
    q = torch.arange(n_new, device=device)[None, :, None]
    c = torch.arange(n_past + n_new, device=device)[None, None, :]
    p, off = past[:, None, None], offset[:, :, None]
    real = q >= off
    own_past = (c < n_past) & (c >= n_past - p)
    causal_new = (c >= n_past + off) & (c - n_past <= q)
    allowed = (real & (own_past | causal_new)) | (~real & (c == n_past + q))
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]
