"""uscd as a transformers custom_generate method, on a tiny random Qwen2 the tests build: the
docs/hf.md example runs, and model.generate gives uscd's own engine output for the same inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from uscd.engine import Decoder, GenerationConfig
from uscd.methods import Sampler, make_rule
from uscd.prompts.lame import derive

pytest.importorskip("transformers")

DOC = Path(__file__).resolve().parents[1] / "docs" / "hf.md"
STOPS = ("\ndef ", "\nclass ")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from uscd.engine.backends.tiny_hf import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="module")
def hf_model(tiny_folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_folder, padding_side="left")
    return tok, AutoModelForCausalLM.from_pretrained(tiny_folder, dtype="float32").eval()


@pytest.fixture(scope="module")
def engine_decoder(tiny_folder):
    from uscd.engine.backends.transformers import TransformersBackend

    return Decoder(TransformersBackend(tiny_folder, dtype="float32", device="cpu"))


def test_docs_example_runs(tiny_folder, capsys):
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text().split("## `custom_generate`")[1], re.S)
    assert len(block.strip().splitlines()) <= 14
    code = block.replace('"Qwen/Qwen2.5-Coder-7B-Instruct"', repr(str(tiny_folder)))
    exec(compile(code, str(DOC), "exec"), {})  # the documented example, verbatim but for the model
    printed = capsys.readouterr().out
    assert printed.startswith("[") and printed.count("'") >= 4  # two decoded completions


def _generate(hf_model, prompts, rule_name, padding_side="left", **extra):
    from uscd.hf_generate import CUSTOM_GENERATE

    tok, model = hf_model
    tok.padding_side = padding_side
    inputs = tok(prompts, return_tensors="pt", padding=True)
    rule = make_rule(rule_name)
    if rule.aux:
        lame = tok([derive(p, "python").lame for p in prompts], return_tensors="pt", padding=True)
        extra |= {"lame_input_ids": lame.input_ids, "lame_attention_mask": lame.attention_mask}
    out = model.generate(
        **inputs,
        rule=rule_name,
        max_new_tokens=20,
        custom_generate=CUSTOM_GENERATE,
        trust_remote_code=True,
        **extra,
    )
    assert out.shape[0] == len(prompts)
    assert (out[:, : inputs.input_ids.shape[1]] == inputs.input_ids).all()
    return [row[inputs.input_ids.shape[1] :].tolist() for row in out], tok


def _strip(row: list[int], eos: int) -> list[int]:
    """The engine's tokens: up to (not including) the end-of-generation token."""
    return row[: row.index(eos)] if eos in row else row


@pytest.mark.parametrize(
    ("rule_name", "padding_side", "batch_size"),
    [
        ("uscd", "left", None),
        ("greedy", "right", None),
        ("cd", "left", 1),
        ("spa", "left", 2),
    ],
)
def test_generate_equals_the_engine(
    hf_model, engine_decoder, humaneval_records, rule_name, padding_side, batch_size
):
    prompts = [rec["prompt"] for rec in humaneval_records[:5]]
    extra = {} if batch_size is None else {"batch_size": batch_size}
    if rule_name == "spa":
        from uscd.prompts.auxiliary import FROM_PROMPT

        tok = hf_model[0]
        masked = tok([FROM_PROMPT["masked"](p) for p in prompts], return_tensors="pt", padding=True)
        extra |= {
            "aux_input_ids": {"masked": masked.input_ids},
            "aux_attention_mask": {"masked": masked.attention_mask},
        }
    rows, tok = _generate(hf_model, prompts, rule_name, padding_side, **extra)
    rule = make_rule(rule_name)
    for prompt, row in zip(prompts, rows, strict=True):
        aux = {n: derive(prompt, "python").lame if n == "lame" else _aux(n, prompt) for n in rule.aux}
        gen = engine_decoder.generate(
            prompt, aux or None, rule, Sampler(), GenerationConfig(max_new_tokens=20)
        )
        assert _strip(row, tok.eos_token_id) == gen.tokens


def _aux(name, prompt):
    from uscd.prompts.auxiliary import FROM_PROMPT

    return FROM_PROMPT[name](prompt)


def test_sampling_is_seeded(hf_model, humaneval_records):
    prompts = [rec["prompt"] for rec in humaneval_records[:3]]
    a, _ = _generate(hf_model, prompts, "uscd", do_sample=True, temperature=0.9, seed=7)
    b, _ = _generate(hf_model, prompts, "uscd", do_sample=True, temperature=0.9, seed=7)
    c, _ = _generate(hf_model, prompts, "uscd", do_sample=True, temperature=0.9, seed=8)
    assert a == b and a != c


def test_bad_arguments_are_refused(hf_model, humaneval_records):
    from transformers import LogitsProcessorList

    from uscd.hf_generate import CUSTOM_GENERATE

    tok, model = hf_model
    inputs = tok([humaneval_records[0]["prompt"]], return_tensors="pt")
    call = {"custom_generate": CUSTOM_GENERATE, "trust_remote_code": True, "max_new_tokens": 4}
    with pytest.raises(ValueError, match="needs lame_input_ids"):
        model.generate(**inputs, rule="uscd", **call)
    with pytest.raises(ValueError, match="logits_processor"):
        model.generate(**inputs, rule="greedy", logits_processor=LogitsProcessorList(), **call)


def test_eos_token_id_from_the_call_ends_a_row(hf_model, humaneval_records):
    prompts = [rec["prompt"] for rec in humaneval_records[:2]]
    free, tok = _generate(hf_model, prompts, "greedy")
    stop_at = free[0][3]  # the 4th token row 0 generates becomes its end-of-generation token
    rows, _ = _generate(hf_model, prompts, "greedy", eos_token_id=stop_at, pad_token_id=tok.eos_token_id)
    assert rows[0][: free[0].index(stop_at) + 1] == free[0][: free[0].index(stop_at) + 1]
    assert all(t == tok.eos_token_id for t in rows[0][free[0].index(stop_at) + 1 :])
