"""Names of entities and relations: local names, opaque codes, label choice by language."""

from __future__ import annotations

import pytest

from curate.kg import labels


@pytest.mark.parametrize(("name", "expected"), [
    ("has_symptom", "has symptom"),
    ("hasSymptom", "has symptom"),
    ("HeartFailure", "Heart Failure"),
    ("HIV", "HIV"),
    ("droplet_transmission", "droplet transmission"),
    ("感冒", "感冒"),
    ("DOID_1612", None),
    ("C0004096", None),
    ("HP_0001945", None),
    ("123", None),
    ("550e8400-e29b-41d4-a716-446655440000", None),
])
def test_readable_local_names(name, expected):
    assert labels.readable(name) == expected


def test_local_name_is_percent_decoded():
    assert labels.local_name("http://kg.example/疾病/%E6%84%9F%E5%86%92") == "感冒"
    assert labels.local_name("http://purl.obolibrary.org/obo/DOID_1612") == "DOID_1612"
    assert labels.local_name("http://example.org/onto#has_symptom") == "has_symptom"
    assert labels.local_name("urn:isbn:12345") == "12345"


def test_language_from_tag_or_characters():
    assert labels.language("influenza", "en-GB") == "en"
    assert labels.language("流行性感冒", "zh-Hans") == "zh"
    assert labels.language("流行性感冒", None) == "zh"
    assert labels.language("influenza", None) == "en"


def test_choose_prefers_language_then_rank_then_english():
    cands = [("flu", "en", 2), ("influenza", "en", 0), ("流感", "zh", 2), ("流行性感冒", "zh", 0), ("grippe", "fr", 0)]
    assert labels.choose(cands, "zh") == "流行性感冒"
    assert labels.choose(cands, "en") == "influenza"
    assert labels.choose([("grippe", "fr", 0), ("influenza", "en", 1)], "zh") == "influenza"
    assert labels.choose([("grippe", "fr", 0)], "en") == "grippe"
    assert labels.choose([], "en") is None
