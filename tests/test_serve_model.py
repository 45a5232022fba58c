"""`uscd serve` on the real default model, with the official `openai` client over loopback: the
model's own chat template and special tokens, a uscd method chosen through extra_body that really
contrasts, streamed = whole, and concurrent clients (one of them leaving mid-stream) all served."""

from __future__ import annotations

import threading

import pytest
from tests.test_serve import Live, stream_lines

from uscd.engine import GenerationConfig, Request
from uscd.methods import Sampler, make_rule
from uscd.prompts.lame import derive
from uscd.serve.chat import prepare_chat

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b-instruct"


@pytest.fixture(scope="module")
def live(model_path):
    from uscd.engine.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(model_path, n_ctx=1024)
    try:
        # a real model on 2 shared cores: requests that wait for a slot may take minutes
        with Live(backend, batch=4, methods="uscd,greedy", model_id=MODEL, timeout=600) as server:
            yield server
    finally:
        backend.close()


def test_the_models_chat_template_and_special_tokens(live):
    st = live.app.state.uscd
    messages = [{"role": "user", "content": "Write a Python function that returns the square of x."}]
    rendered = st.template.render(messages)
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\n")
    req = Request(rendered, None, make_rule("greedy"), Sampler(), GenerationConfig(max_new_tokens=4))
    tokens = prepare_chat(live.backend, req).prompt_tokens
    assert len(tokens) < len(live.backend.tokenize(rendered))  # markup became single special tokens
    out = live.client.chat.completions.create(model=MODEL, messages=messages, max_tokens=200)
    (choice,) = out.choices
    assert "def " in choice.message.content and "<|im_" not in choice.message.content
    assert choice.finish_reason == "stop"  # <|im_end|> ended it, as a chat should end
    assert out.usage.prompt_tokens == len(tokens)


def test_uscd_through_extra_body_contrasts_and_greedy_does_not(live, humaneval_records):
    prompt = humaneval_records[0]["prompt"]
    stop = ["\ndef ", "\nif __name__", "\nprint("]
    kw = dict(model=MODEL, prompt=prompt, max_tokens=128, stop=stop)
    greedy = live.client.completions.create(extra_body={"uscd": {"method": "greedy"}}, **kw).choices[0]
    uscd = live.client.completions.create(extra_body={"uscd": {"rule": "cd", "rho": 1.0}}, **kw).choices[0]
    assert greedy.model_extra["uscd"]["contrast_steps"] == 0
    report = uscd.model_extra["uscd"]
    assert report["lame_prompt"] == "derived" and report["lame_noop"] is False
    assert report["contrast_steps"] > 0 and report["lame_tokens_evaluated"] > 0
    assert derive(prompt, "python").lame != prompt
    assert "return" in greedy.text


def test_streamed_text_equals_the_whole_text(live, humaneval_records):
    """Alone in the batch, the same request streamed and whole gives the same text. The first run of
    a prompt evaluates it in full; later runs take its cached cells and evaluate its last token
    alone, which rounds differently (docs/performance.md): so both compared runs are later runs."""
    prompt = humaneval_records[2]["prompt"]
    kw = dict(model=MODEL, prompt=prompt, max_tokens=64, stop=["\ndef "])
    live.client.completions.create(**kw)  # the first run: the prompt's cells stay in the slot
    live.wait_idle()
    whole = live.client.completions.create(**kw).choices[0]
    live.wait_idle()
    chunks = list(live.client.completions.create(stream=True, **kw))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.text
    assert len([c for c in chunks if c.choices and c.choices[0].text]) > 3


def test_concurrent_clients_and_one_that_leaves_are_all_served(live, humaneval_records):
    prompts = [r["prompt"] for r in humaneval_records[10:16]]
    results: dict[int, object] = {}

    def call(i):
        results[i] = live.client.completions.create(
            model=MODEL, prompt=prompts[i], max_tokens=48, extra_body={"uscd": {"method": "greedy"}}
        )

    body = {"model": MODEL, "prompt": prompts[0], "max_tokens": 400, "stream": True}
    leaver = threading.Thread(target=stream_lines, args=(live.base, body), kwargs={"stop_after": 3})
    threads = [leaver, *(threading.Thread(target=call, args=(i,)) for i in range(len(prompts)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(results) == list(range(len(prompts)))
    assert all(out.usage.completion_tokens > 0 for out in results.values())
    live.wait_idle()
    health = live.health()
    assert health["in_flight"] == 0 and health["outcomes"].get("Cancelled", 0) >= 1  # the leaver
