"""P2: engine greedy tokens/s / a bare llama-cpp-python argmax loop's tokens/s (target >= 0.95).

Same model object, same context parameters, same prompts and the same number of steps per problem
(the engine's greedy run sets them): the bare loop is prefill, then argmax over the full-vocabulary
logits view and one single-token ``llama_decode`` per step, with nothing else. Runs alternate
(engine, bare, engine, bare) and each side keeps its best round, so drift hits both alike.

    flock /tmp/uscd-model.lock python benchmarks/p2_engine_vs_bare.py [--limit 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import emit, humaneval, model_lock, open_backend, table


def engine_round(decoder, problems, max_new):
    from uscd.engine import GenerationConfig
    from uscd.methods import Sampler, make_rule

    rule = make_rule("greedy")
    steps, tokens = [], []
    t0 = time.perf_counter()
    for p in problems:
        g = decoder.generate(p.prompt, None, rule, Sampler(), GenerationConfig(max_new, p.stop, trace=False))
        steps.append(g.steps)
        tokens.append(g.tokens)
    return time.perf_counter() - t0, steps, tokens


def bare_round(backend, prompts, steps):
    """Prefill + `steps` argmax picks with (steps - 1) single-token decodes, low-level API only."""
    import llama_cpp

    params = llama_cpp.llama_context_default_params()
    params.n_ctx = backend.n_ctx
    params.n_batch = params.n_ubatch = backend.n_batch
    params.n_seq_max = 1
    params.n_threads = params.n_threads_batch = backend.n_threads
    params.no_perf = True
    ctx = llama_cpp.llama_init_from_model(backend.model, params)
    mem = llama_cpp.llama_get_memory(ctx)
    V = backend.vocab_size
    picked = []
    one = (llama_cpp.llama_token * 1)()
    try:
        t0 = time.perf_counter()
        for prompt, n in zip(prompts, steps, strict=True):
            llama_cpp.llama_memory_clear(mem, True)
            arr = (llama_cpp.llama_token * len(prompt))(*prompt)
            for start in range(0, len(prompt), backend.n_batch):  # prefill in n_batch chunks
                chunk = prompt[start : start + backend.n_batch]
                sub = (llama_cpp.llama_token * len(chunk)).from_buffer(arr, start * 4)
                assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(sub, len(chunk))) == 0
            out = []
            for j in range(n):
                row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(V,))
                tok = int(np.argmax(row))
                out.append(tok)
                if j + 1 < n:
                    one[0] = tok
                    assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(one, 1)) == 0
            picked.append(out)
        return time.perf_counter() - t0, picked
    finally:
        llama_cpp.llama_free(ctx)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    args = ap.parse_args(argv)

    from uscd.engine import Decoder

    problems = humaneval(args.limit)
    with model_lock(), open_backend(args.model) as backend:
        decoder = Decoder(backend)
        prompts = [backend.tokenize(p.prompt) for p in problems]
        engine_round(decoder, problems[:2], 16)  # warm-up
        eng_times, bare_times = [], []
        steps = same = None
        for _ in range(args.rounds):
            t, s, toks = engine_round(decoder, problems, args.max_new_tokens)
            eng_times.append(t)
            steps = steps or s
            tb, picked = bare_round(backend, prompts, steps)
            bare_times.append(tb)
            # the bare loop takes argmax over the same logits: its tokens agree with the engine's
            # (the engine's last token may be an EOS it does not keep)
            same = sum(p[: len(t_)] == t_ for p, t_ in zip(picked, toks, strict=True))
    total = sum(steps)
    eng_tps, bare_tps = total / min(eng_times), total / min(bare_times)
    print(
        f"P2 on the first {len(problems)} HumanEval problems, {total} steps each side, "
        f"model {backend.path.name}"
    )
    print(
        table(
            ["run", "best s", "all rounds s", "tokens/s"],
            [
                ["engine greedy", min(eng_times), " ".join(f"{x:.2f}" for x in eng_times), eng_tps],
                ["bare argmax loop", min(bare_times), " ".join(f"{x:.2f}" for x in bare_times), bare_tps],
            ],
        )
    )
    print(f"token-identical problems: {same}/{len(problems)}")
    ratio = eng_tps / bare_tps
    return emit(
        "P2",
        ratio,
        ">= 0.95",
        ratio >= 0.95,
        engine_tps=round(eng_tps, 2),
        bare_tps=round(bare_tps, 2),
        steps=total,
        problems=len(problems),
        identical=same,
    )


if __name__ == "__main__":
    main()
