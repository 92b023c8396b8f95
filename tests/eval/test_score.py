"""Option scoring: lm-eval's tokenization split, the three methods, prefix reuse equal to naive scoring, determinism."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from curate.eval.model import ModelLoadError, adapter_kind, load_model  # noqa: E402
from curate.eval.score import (  # noqa: E402
    OptionScore,
    Request,
    _pairs,
    _shared_length,
    choose,
    encode_pair,
    score,
    score_all,
)

ABSTRACT = ("Abstract: Patients with chronic kidney disease were enrolled in a randomised trial of a new therapy.\n"
            "Mortality was reduced in the treatment arm.\nQuestion: Does the therapy reduce mortality?\nAnswer:")
CHAT = ("<|im_start|>user\nContext: the trial was small.\nQuestion: Is it safe?\nAnswer with yes, no or maybe."
        "<|im_end|>\n<|im_start|>assistant\n")
REQUESTS = [
    Request(ABSTRACT, ("yes", "no", "maybe")),
    Request(CHAT, ("The answer is yes.", "The answer is no.", "The answer is maybe."), delimiter="",
            move_whitespace=False),
    # options whose whole encoding re-splits the context's last word: the shared prefix is shorter than the context
    Request("The patient was treat", ("ed well.", "ment is given.", " now."), delimiter=""),
    Request("Question: one option only\nAnswer:", ("single",)),
]


@pytest.fixture(scope="module")
def loaded(tiny_export):
    return load_model(tiny_export)


def test_encode_pair_moves_trailing_whitespace_like_lm_eval(loaded):
    _, tok = loaded
    ctx, cont = encode_pair(tok, "Answer: ", "yes")
    assert ctx == tok.encode("Answer:")
    assert ctx + cont == tok.encode("Answer: yes")
    kept_ctx, kept_cont = encode_pair(tok, "Answer:\n", "yes", move_whitespace=False)
    assert kept_ctx == tok.encode("Answer:\n") and kept_ctx + kept_cont == tok.encode("Answer:\nyes")
    with pytest.raises(ValueError, match="empty context"):
        encode_pair(tok, "", "yes")


def test_shared_prefix_stops_where_options_diverge(loaded):
    _, tok = loaded
    pairs = _pairs(tok, REQUESTS[2])
    assert _shared_length(pairs) < min(len(ctx) for ctx, _ in pairs)
    assert _shared_length(_pairs(tok, REQUESTS[0])) == len(tok.encode(ABSTRACT))


@pytest.mark.parametrize("request_index", range(len(REQUESTS)))
def test_prefix_reuse_equals_naive(loaded, request_index):
    model, tok = loaded
    request = REQUESTS[request_index]
    naive = score(model, tok, request, "naive")
    for mode in ("prefix", "prefix_loop"):
        reused = score(model, tok, request, mode)
        for a, b in zip(naive, reused, strict=True):
            assert (a.n_tokens, a.n_chars, a.greedy) == (b.n_tokens, b.n_chars, b.greedy)
            assert a.logprob == pytest.approx(b.logprob, abs=1e-5)


def test_scores_match_a_direct_log_softmax(loaded):
    model, tok = loaded
    ctx, cont = encode_pair(tok, ABSTRACT, " maybe")
    with torch.no_grad():
        logits = model(torch.tensor([ctx + cont])).logits[0].double()
    expected = sum(torch.log_softmax(logits[len(ctx) - 1 + i], -1)[t].item() for i, t in enumerate(cont))
    got = score(model, tok, REQUESTS[0])[2]
    assert got.logprob == pytest.approx(expected, abs=1e-4)
    assert got.n_tokens == len(cont) and got.n_chars == len("maybe")


def test_scoring_is_deterministic(loaded):
    model, tok = loaded
    first = score_all(model, tok, REQUESTS)
    again = score_all(model, tok, REQUESTS)
    assert [[s.logprob for s in item] for item in first] == [[s.logprob for s in item] for item in again]


def test_methods_pick_as_defined():
    short_bad = OptionScore(logprob=-4.0, n_tokens=1, n_chars=2, greedy=False)  # mean NLL 4, per char -2
    long_good = OptionScore(logprob=-6.0, n_tokens=3, n_chars=12, greedy=False)  # mean NLL 2, per char -0.5
    middle = OptionScore(logprob=-5.0, n_tokens=1, n_chars=20, greedy=False)  # mean NLL 5, per char -0.25
    options = [short_bad, long_good, middle]
    assert choose(options, "acc") == 0
    assert choose(options, "ppl") == 1
    assert choose(options, "acc_norm") == 2
    assert choose([short_bad, short_bad], "acc") == 0  # ties go to the first option
    with pytest.raises(ValueError, match="unknown method"):
        choose(options, "bleu")


def test_unknown_mode_and_empty_options_are_refused(loaded):
    model, tok = loaded
    with pytest.raises(ValueError, match="unknown mode"):
        score(model, tok, REQUESTS[0], "fast")
    with pytest.raises(ValueError, match="at least one option"):
        score(model, tok, Request("Answer:", ()))


def test_adapter_kind_names_the_missing_files(tmp_path, tiny_export):
    (tmp_path / "adapter_config.json").write_text("{}")
    assert adapter_kind(tmp_path) == "peft"
    with pytest.raises(ModelLoadError, match=r"neither adapter_config\.json"):
        adapter_kind(tiny_export)
    with pytest.raises(ModelLoadError, match="not an HF export"):
        load_model(tmp_path)
