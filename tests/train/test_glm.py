"""GLM blank infilling: the hand-made example, the mask, each span token predicted once, seeds, isolation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from curate.train.glm import GLMCollator, decoder_positions, glm_attention_mask, infill, sample_spans, spans_for

MASK, SOP, EOP, PAD = 4, 6, 7, 1
IDS = {"mask_id": MASK, "sop_id": SOP, "eop_id": EOP, "pad_id": PAD}


def test_hand_made_example_parts_positions_and_labels():
    # text x0..x5 = 10..15, spans (1, 2) -> [11 12] and (4, 1) -> [14], Part B order: span 1 then span 0
    s = infill(np.arange(10, 16), [(1, 2), (4, 1)], [1, 0], 12, **IDS)
    assert s.separator == 5
    assert s.input_ids.tolist() == [10, MASK, 13, MASK, 15, SOP, 14, SOP, 11, 12, PAD, PAD]
    assert s.labels.tolist() == [-100] * 5 + [14, EOP, 11, 12, EOP, -100, -100]
    assert s.position_2d.tolist() == [[0, 1, 2, 3, 4, 3, 3, 1, 1, 1, 0, 0],
                                      [0, 0, 0, 0, 0, 1, 2, 1, 2, 3, 0, 0]]
    assert decoder_positions(s.position_2d, s.separator).tolist() == [0, 1, 2, 3, 4, 3, 4, 1, 2, 3, 0, 0]


def test_hand_made_mask():
    mask = glm_attention_mask(separator=3, used=6, length=7)
    expected = torch.tensor([
        [1, 1, 1, 0, 0, 0, 0],  # Part A: all of Part A, nothing of Part B
        [1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0, 0],  # Part B: Part A and Part B up to itself
        [1, 1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],  # pad: itself only
    ], dtype=torch.bool)
    assert torch.equal(mask, expected)


def _batch(n: int = 8, seq: int = 64, seed: int = 3, offset: int = 0) -> tuple[list[dict], dict]:
    # every token is distinct, so a predicted token names its place in the text
    collate = GLMCollator(**IDS, seq_length=seq, seed=seed)
    rows = [{"tokens": torch.arange(100 + 1000 * i, 100 + 1000 * i + collate.text_length + 1), "index": i + offset}
            for i in range(n)]
    return rows, collate(rows)


def test_batch_shapes_and_contract():
    _, b = _batch()
    assert b["input_ids"].shape == b["labels"].shape == b["position_ids"].shape == (8, 64)
    assert b["attention_mask"].shape == (8, 1, 64, 64) and b["attention_mask"].dtype == torch.bool
    assert b["glm_position_ids"].shape == (8, 2, 64) and b["separator"].shape == (8,)
    assert b["attention_mask"].any(-1).all()


def test_every_span_token_is_predicted_exactly_once():
    rows, b = _batch(n=16)
    masked = 0
    for i, row in enumerate(rows):
        sep = int(b["separator"][i])
        kept = b["input_ids"][i, :sep]
        kept = kept[kept != MASK]
        targets = b["labels"][i][b["labels"][i] != -100]
        predicted = targets[targets != EOP]
        assert (b["labels"][i, :sep] == -100).all()  # no loss in Part A
        assert int((targets == EOP).sum()) == int((b["input_ids"][i, :sep] == MASK).sum())  # one [END] a span
        text = row["tokens"][:-1]  # the last token is the next sample's first (Megatron's shared boundary)
        assert sorted(kept.tolist() + predicted.tolist()) == text.tolist()  # every text token once, in A or B
        masked += len(predicted) / len(text)
    assert 0.10 < masked / len(rows) < 0.20  # about mask_ratio


@pytest.mark.parametrize("seq", [128, 1000, 2048])
def test_the_window_is_filled_and_no_text_is_dropped(seq: int):
    rows, b = _batch(n=32, seq=seq)
    used = (b["input_ids"] != PAD).sum(1)
    assert used.min().item() >= 0.99 * seq  # at least 99% of every window
    assert b["num_tokens"] == int(used.sum())
    collate = GLMCollator(**IDS, seq_length=seq)
    assert all(len(r["tokens"]) == collate.text_length + 1 for r in rows)


def test_part_b_inputs_are_start_then_the_span_and_targets_shift_it():
    _, b = _batch(n=4)
    for i in range(4):
        sep, used = int(b["separator"][i]), int((b["input_ids"][i] != PAD).sum())
        ids, labels = b["input_ids"][i, sep:used], b["labels"][i, sep:used]
        assert ids[0] == SOP
        for t in range(len(ids) - 1):  # inside a span, each target is the next input
            if ids[t + 1] != SOP:
                assert labels[t] == ids[t + 1]
            else:
                assert labels[t] == EOP


def test_part_a_never_sees_part_b():
    import transformers

    from curate.train.data import additive_mask

    _, b = _batch(n=2)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=4200, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    model = transformers.LlamaForCausalLM(config).eval()
    model.set_attn_implementation("eager")
    sep = int(b["separator"][0])
    assert not b["attention_mask"][0, 0, :sep, sep:].any()
    changed = b["input_ids"].clone()
    changed[0, sep:] = 99  # rewrite all of Part B
    mask = additive_mask(b["attention_mask"])
    with torch.no_grad():
        out = model(input_ids=b["input_ids"], position_ids=b["position_ids"], attention_mask=mask).logits
        out2 = model(input_ids=changed, position_ids=b["position_ids"], attention_mask=mask).logits
    torch.testing.assert_close(out[0, :sep], out2[0, :sep], atol=1e-6, rtol=0)
    assert (out[0, sep:] - out2[0, sep:]).abs().max() > 1e-3  # Part B does see the change


def test_same_seed_and_index_same_sample_other_seed_differs():
    _, a = _batch(seed=3)
    _, again = _batch(seed=3)
    _, other = _batch(seed=4)
    assert torch.equal(a["input_ids"], again["input_ids"]) and torch.equal(a["labels"], again["labels"])
    assert not torch.equal(a["input_ids"], other["input_ids"])
    rows, _ = _batch()
    no_index = [{"tokens": r["tokens"]} for r in rows]
    collate = GLMCollator(**IDS, seq_length=64, seed=3)
    assert torch.equal(collate(no_index)["input_ids"], collate(no_index)["input_ids"])


def test_spans_are_non_adjacent_and_inside_the_text():
    rng = np.random.default_rng(0)
    k = spans_for(128, 0.15, 3.0)
    for _ in range(200):
        spans = sample_spans(128 - 2 * k, k, 3.0, rng)
        assert len(spans) == k and spans[-1][0] + spans[-1][1] <= 128 - 2 * k
        for (s0, n0), (s1, _) in itertools.pairwise(spans):
            assert s1 > s0 + n0  # at least one kept token between spans


def test_too_short_sample_is_refused():
    with pytest.raises(ValueError, match="too short"):
        sample_spans(3, 2, 3.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="too short"):
        spans_for(3, 0.5, 1.0)
    with pytest.raises(ValueError, match="needs 58 tokens"):
        GLMCollator(**IDS, seq_length=64).sample(np.arange(10), 0)
