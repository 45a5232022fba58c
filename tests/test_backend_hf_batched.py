"""The HF backend's multi-sequence context on a tiny random Qwen2 (fp32, CPU): the batched driver
gives the single-sequence HF path's completions.

Padding, the attention mask and the position ids are where batching breaks; a wrong one changes
the logits by far more than float rounding (a one-column shift of a random model's context moves
them by ~1). So beyond comparing tokens, every step's standard and auxiliary rows are compared
with the single path's at the same step: they may differ only by reduction-order rounding (batched
GEMMs and a masked attention sum in another order; measured ≤ 1e-5 here, allowed 1e-3).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from uscd.engine import BatchedDecoder, Decoder, GenerationConfig, Request
from uscd.errors import ContextFull, UscdError
from uscd.methods import Sampler, make_rule
from uscd.prompts.auxiliary import FROM_PROMPT
from uscd.prompts.lame import derive

pytest.importorskip("transformers")

ROUNDING = 1e-3
STOPS = ("\ndef ", "\nclass ", "\nif __name__")


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    from uscd.engine.backends.tiny_hf import build_tiny_qwen2
    from uscd.engine.backends.transformers import TransformersBackend

    folder = build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))
    return TransformersBackend(folder, dtype="float32", device="cpu", n_ctx=1024)


def requests_for(records, rule_name: str, n: int = 20, temperature: float = 0.0, **rule_knobs):
    rule = make_rule(rule_name, **rule_knobs)
    out = []
    for i, rec in enumerate(records[:n]):
        prompt = rec["prompt"]
        aux = {
            name: derive(prompt, "python").lame if name == "lame" else FROM_PROMPT[name](prompt)
            for name in rule.aux
        }
        sampler = Sampler(temperature=temperature, seed=i) if temperature else Sampler()
        config = GenerationConfig(max_new_tokens=24 + (i % 5) * 6, stop=STOPS)
        out.append(Request(prompt, aux or None, rule, sampler, config))
    return out


def run_single(backend, requests):
    """Completions and per-step rows of the single-sequence path."""
    dec = Decoder(backend)
    gens, rows = [], []
    for req in requests:
        steps: list = []
        hook = lambda i, view, aux, step, token, steps=steps: steps.append(_copy(view, aux))  # noqa: E731
        gens.append(dec.generate(req.prompt, req.aux_prompts, req.rule, req.sampler, req.config, hook=hook))
        rows.append(steps)
    return gens, rows


def run_batched(backend, requests, batch: int, **options):
    rows: dict[int, list] = {i: [] for i in range(len(requests))}
    hook = lambda index, i, view, aux, step, token: rows[index].append(_copy(view, aux))  # noqa: E731
    decoder = BatchedDecoder(backend, batch, **options)
    try:
        gens = dict(decoder.generate_many(requests, hook))
    finally:
        decoder.close()
    return gens, rows


def _copy(view, aux):
    if aux is None:
        return np.array(view.logits), None
    lanes = aux if isinstance(aux, tuple) else (aux,)
    return np.array(view.logits), [np.array(a) for a in lanes]


def assert_same(single, batched, requests):
    gens_1, rows_1 = single
    gens_n, rows_n = batched
    assert sorted(gens_n) == list(range(len(requests)))
    worst = 0.0
    for k, exp in enumerate(gens_1):
        got = gens_n[k]
        assert not isinstance(got, UscdError), got
        for (std_1, aux_1), (std_n, aux_n) in zip(rows_1[k], rows_n[k], strict=False):
            worst = max(worst, float(np.abs(std_1 - std_n).max()))
            assert (aux_1 is None) == (aux_n is None), f"request {k}: aux read on one path only"
            for a, b in zip(aux_1 or (), aux_n or (), strict=True):
                worst = max(worst, float(np.abs(a - b).max()))
        assert worst <= ROUNDING, f"request {k}: rows differ by {worst:.2e}"
        assert got.tokens == exp.tokens, f"request {k}: tokens differ"
        for name in ("completion", "finish_reason", "steps", "uncertain_steps", "contrast_steps"):
            assert getattr(got, name) == getattr(exp, name), (k, name)
    return worst


@pytest.mark.parametrize(
    ("rule_name", "knobs", "n"),
    [
        ("greedy", {}, 20),
        ("uscd", {}, 20),
        ("uscd", {"measure": "maxprob", "threshold": 0.5}, 20),  # some steps skip the lame lane
        ("spa", {}, 20),
        # lookahead: fork, rewind and drop on the scratch sequence (a forward pass per rollout token)
        ("adadec", {"threshold": 0.5}, 4),
    ],
)
def test_batched_hf_equals_single_hf(tiny_hf, humaneval_records, rule_name, knobs, n):
    requests = requests_for(humaneval_records, rule_name, n=n, **knobs)
    single = run_single(tiny_hf, requests)
    batched = run_batched(tiny_hf, requests, batch=6)
    worst = assert_same(single, batched, requests)
    print(f"\n{rule_name} {knobs}: max |row difference| {worst:.2e}")
    gens = single[0]
    if rule_name == "adadec":
        assert any(g.lookahead_tokens for g in gens), "no rollout ran: the branch path went untested"
    elif rule_name != "greedy":
        assert any(g.contrast_steps for g in gens)
    if knobs.get("measure") == "maxprob":
        assert any(0 < g.contrast_steps < g.steps for g in gens), "the gate should skip some steps"


@pytest.mark.parametrize("prefetch", ["always", "never"])
def test_prefetch_policies_and_sampling(tiny_hf, humaneval_records, prefetch):
    requests = requests_for(humaneval_records, "uscd", n=8, temperature=0.8, measure="maxprob", threshold=0.5)
    single = run_single(tiny_hf, requests)
    fresh = [replace(r, sampler=Sampler(temperature=0.8, seed=r.sampler.seed)) for r in requests]
    assert_same(single, run_batched(tiny_hf, fresh, batch=3, prefetch_lame=prefetch), requests)


def test_samples_of_one_prompt_share_its_cache(tiny_hf, humaneval_records):
    rule = make_rule("uscd")
    prompt = humaneval_records[3]["prompt"]
    requests = [
        Request(
            prompt,
            derive(prompt, "python").lame,
            rule,
            Sampler(temperature=0.7, seed=s),
            GenerationConfig(max_new_tokens=16),
        )
        for s in range(4)
    ]
    gens_1, _ = run_single(tiny_hf, requests)
    fresh = [replace(r, sampler=Sampler(temperature=0.7, seed=r.sampler.seed)) for r in requests]
    gens_n, _ = run_batched(tiny_hf, fresh, batch=4)
    assert [gens_n[i].tokens for i in range(4)] == [g.tokens for g in gens_1]
    assert sum(g.reused_prompt_tokens for g in gens_n.values()) > 0


def test_context_full_fails_only_that_request(tiny_hf, humaneval_records):
    requests = requests_for(humaneval_records, "greedy", n=3)
    long = humaneval_records[0]["prompt"] * 40
    requests.insert(1, replace(requests[0], prompt=long))
    gens, _ = run_batched(tiny_hf, requests, batch=2)
    assert isinstance(gens[1], UscdError) and "context" in str(gens[1])
    assert all(not isinstance(gens[k], UscdError) for k in (0, 2, 3))


def test_multi_sequence_context_primitives(tiny_hf):
    ctx = tiny_hf.multi_sequence(3, 256)
    a = tiny_hf.tokenize("def add(a, b):\n    return a + b\n")
    rows = ctx.decode([(0, a, True), (1, a[:5], False)])
    assert rows[1] is None and ctx.tokens[0] == a and ctx.length(1) == 5
    ctx.copy_prefix(0, 2, 7)
    (row,) = ctx.decode([(2, a[7:], True)])
    assert np.abs(row - rows[0]).max() <= ROUNDING  # a copied prefix is as good as evaluated
    ctx.truncate(0, 4)
    (again,) = ctx.decode([(0, a[4:], True)])
    assert np.abs(again - rows[0]).max() <= ROUNDING
    with pytest.raises(UscdError, match="twice"):
        ctx.decode([(0, [1], True), (0, [2], True)])
    with pytest.raises(ContextFull):
        ctx.decode([(1, [1] * tiny_hf.n_ctx, True)])
    ctx.clear()
    assert ctx.tokens == [[], [], []]
    tiny_hf.release(ctx)


def test_dtype_names(tiny_hf):
    from uscd.engine.backends.transformers import _dtype_name

    assert _dtype_name("bf16") == "bfloat16" and _dtype_name("fp16") == "float16"
    with pytest.raises(UscdError, match="unknown dtype"):
        _dtype_name("int3")
    assert tiny_hf.describe()["dtype"] == "float32"
    from uscd.engine.backends import load_backend

    with pytest.raises(UscdError, match="--dtype is for --backend hf"):
        load_backend("llama", tiny_hf.path, dtype="bf16")
    half = load_backend("hf", tiny_hf.path, dtype="bf16", device="cpu")
    assert half.describe()["dtype"] == "bfloat16" and str(half.model.dtype) == "torch.bfloat16"
    ctx = half.multi_sequence(2, 256)
    (row, other) = ctx.decode([(0, half.tokenize("def f(x):"), True), (1, half.tokenize("x = 1"), True)])
    assert row.dtype == np.float32 and np.isfinite(row).all() and np.isfinite(other).all()


def test_an_hf_model_folder_resolves_and_hashes(tiny_hf):
    from uscd.models import describe, resolve

    folder = tiny_hf.path
    assert resolve(str(folder)) == folder
    info = describe(folder)
    assert info["name"] == folder.name and len(info["sha256"]) == 64
    assert info["size"] > 0 and describe(folder) == info


def test_served_requests_on_the_hf_backend(tiny_hf, humaneval_records):
    """`uscd serve`'s loop (requests submitted while it runs, one cancelled mid-way) on the HF
    context: every finished request has the single path's tokens."""
    from tests.test_batched_serve import Loop, Recorder, wait_all, wait_idle

    requests = requests_for(humaneval_records, "uscd", n=5)
    expected, _ = run_single(tiny_hf, requests)
    with Loop(tiny_hf, batch=2) as loop:
        doomed = None

        def cancel_after_two(rec):
            if len(rec.tokens) == 2:
                loop.feed.cancel(doomed)

        doomed, cancelled = loop.submit(requests[0], listener=Recorder(cancel_after_two))
        recs = [loop.submit(r)[1] for r in requests]
        wait_all([cancelled, *recs])
        wait_idle(loop.decoder)
    assert isinstance(cancelled.result, UscdError) and "cancelled" in str(cancelled.result)
    assert [rec.result.tokens for rec in recs] == [g.tokens for g in expected]


def test_sliding_window_models_are_not_batched_past_their_window(tiny_hf):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from uscd.engine.backends.transformers import TransformersBackend

    config = Qwen2Config(
        vocab_size=tiny_hf.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, use_sliding_window=True, sliding_window=64,
        max_window_layers=1,
    )  # fmt: skip
    backend = TransformersBackend.from_model(Qwen2ForCausalLM(config).eval(), tiny_hf.tokenizer, n_ctx=512)
    with pytest.raises(UscdError, match="limits attention to 64 tokens"):
        backend.multi_sequence(2, 256)
    within = TransformersBackend.from_model(backend.model, tiny_hf.tokenizer, n_ctx=64)
    within.release(within.multi_sequence(2, 256))  # the window never bites: batching is exact
    tiny_hf.release(tiny_hf.multi_sequence(2, 256))  # full attention everywhere
