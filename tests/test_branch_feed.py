"""The program searches on a running serve loop (``FeedDecoder``) on the fake model: the same
search record and result as on the single-stream decoder, while other requests decode in the same
batch; cancelling and deadlines stop the whole search and leave no slot behind."""

from __future__ import annotations

import threading
import time

import pytest
from tests.test_batched import make_requests
from tests.test_batched_serve import Loop, wait_all, wait_idle
from tests.test_branch_search import PROMPT, candidates, judge_by_completion, request
from tests.test_continuation import Fake, outcome

from uscd.engine import BatchedDecoder, Cancelled, DeadlineExceeded, Decoder, ServerClosed
from uscd.methods import BranchSearch, FilterSearch
from uscd.search import branch as search
from uscd.search import filter as filter_search
from uscd.search.decoders import FeedDecoder, ProgramDecoder, SingleProgramDecoder


def without_time(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "search_s"}


def both(generate, rule, judges):
    """The search on the single-stream decoder and on a serve loop (batch 2), with a judge each."""
    single = generate(Decoder(Fake()), request(rule), judge=judges[0])
    with Loop(Fake(), batch=2) as loop:
        served = generate(FeedDecoder(loop.feed, loop.backend.piece), request(rule), judge=judges[1])
        wait_idle(loop.decoder)
    return single, served


def assert_same(single, served) -> None:
    assert outcome(served) == outcome(single)
    assert without_time(served.search) == without_time(single.search)
    assert served.trace == single.trace
    for name in ("uncertain_steps", "contrast_steps", "fallback_steps", "prompt_tokens"):
        assert getattr(served, name) == getattr(single, name), name


def scenarios():
    rule = BranchSearch()
    base, tries = candidates(rule)
    dec = Decoder(Fake())
    a = dec.run(request(rule))
    completions = [dec.branch(request(rule), a, step, token).completion for step, token in tries[:4]]
    return {
        "a-passed": (rule, {}, 2),
        "branch-passed": (rule, {completions[1]: 2}, 0),
        "a-kept": (rule, {base.completion: 1, completions[0]: 1}, 0),
        "best-branch": (rule, {completions[0]: 1, completions[2]: 1}, 0),
        "token budget": (BranchSearch(max_branch_tokens=1), {}, 0),
    }


@pytest.mark.parametrize("case", ["a-passed", "branch-passed", "a-kept", "best-branch", "token budget"])
def test_the_branch_search_on_a_serve_loop_equals_the_single_stream(case):
    rule, scores, default = scenarios()[case]
    judges = [judge_by_completion(scores, default) for _ in range(2)]
    single, served = both(search.branch_generate, rule, judges)
    assert_same(single, served)
    assert judges[0].seen == judges[1].seen
    assert single.search["outcome"] == case.replace("token budget", "a-kept")


def test_the_filter_search_on_a_serve_loop_equals_the_single_stream():
    judges = [judge_by_completion({}) for _ in range(2)]
    single, served = both(filter_search.filter_generate, FilterSearch(n=3), judges)
    assert_same(single, served)
    assert judges[0].seen == judges[1].seen and len(set(judges[0].seen)) > 1


def test_both_decoders_are_program_decoders():
    def conforms(decoder: ProgramDecoder) -> bool:
        return all(callable(getattr(decoder, name, None)) for name in ("generate", "branch", "piece"))

    assert conforms(SingleProgramDecoder(Decoder(Fake())))
    assert conforms(FeedDecoder(None, Fake().piece))  # type: ignore[arg-type]


def test_other_requests_keep_decoding_in_the_same_batch_during_a_search():
    others = make_requests("uscd", n=5)
    expected = dict(BatchedDecoder(Fake(), 3).generate_many(others))
    rule, scores, default = scenarios()["best-branch"]
    single = search.branch_generate(Decoder(Fake()), request(rule), judge=judge_by_completion(scores))
    with Loop(Fake(), batch=3) as loop:
        recs = [loop.submit(r)[1] for r in others]
        fd = FeedDecoder(loop.feed, loop.backend.piece)
        served = search.branch_generate(fd, request(rule), judge=judge_by_completion(scores, default))
        wait_all(recs)
        wait_idle(loop.decoder)
    assert_same(single, served)
    assert [outcome(rec.result) for rec in recs] == [outcome(expected[i]) for i in range(len(others))]


def test_cancelling_stops_the_ticket_in_flight_and_the_search():
    with Loop(Fake(), batch=1) as loop:
        fd = FeedDecoder(loop.feed, loop.backend.piece)

        def cancel_at_step_3(index, *_):
            if index == 3:
                fd.cancel()

        with pytest.raises(Cancelled):
            fd.generate(request(BranchSearch()), cancel_at_step_3)
        wait_idle(loop.decoder)
        assert loop.feed.waiting() == 0
        with pytest.raises(Cancelled):  # and every later program of the search
            fd.generate(request(BranchSearch()))

        judged = threading.Event()
        fd = FeedDecoder(loop.feed, loop.backend.piece)

        def judge_then_cancel(solution, checks):  # the client goes away while A is being judged
            judged.set()
            fd.cancel()
            return judge_by_completion({})(solution, checks)

        with pytest.raises(Cancelled):  # not recorded as a lost branch: the search stops
            search.branch_generate(fd, request(BranchSearch()), judge=judge_then_cancel)
        assert judged.is_set()
        wait_idle(loop.decoder)


def test_a_deadline_or_a_shutdown_stops_the_search():
    with Loop(Fake(), batch=1) as loop:
        fd = FeedDecoder(loop.feed, loop.backend.piece, deadline=time.monotonic() - 1)
        with pytest.raises(DeadlineExceeded):
            search.branch_generate(fd, request(BranchSearch()), judge=judge_by_completion({}))
        wait_idle(loop.decoder)
    with pytest.raises(ServerClosed):  # the loop is gone: nothing waits forever
        FeedDecoder(loop.feed, loop.backend.piece).generate(request(BranchSearch()))


def test_the_prompt_is_the_one_the_judge_sees():
    judge = judge_by_completion({}, default=2)
    with Loop(Fake(), batch=1) as loop:
        gen = search.branch_generate(FeedDecoder(loop.feed, loop.backend.piece), request(), judge=judge)
    assert gen.search["outcome"] == "a-passed" and judge.seen == [gen.completion]
    assert request().prompt == PROMPT


def test_a_branch_takes_the_shared_prefix_from_the_cells_its_base_left():
    req = request(BranchSearch())
    with Loop(Fake(), batch=2) as loop:
        fd = FeedDecoder(loop.feed, loop.backend.piece)
        base = fd.generate(req)
        branch = fd.branch(req, base, 5, 7)
    expected = Decoder(Fake()).branch(req, Decoder(Fake()).run(req), 5, 7, reuse_cache=False)
    assert outcome(branch) == outcome(expected)
    assert branch.reused_prompt_tokens == base.prompt_tokens + 5  # evaluated: the forced token only
