"""The English word list is pyspellchecker's, read fast."""

import gzip
import json
from importlib import resources

# curate.readers.pdf is imported inside the tests: imported first at collection, it would load pymupdf without
# its layout model for the whole session, and page.find_tables (which other tests compare with) finds less.


def test_word_list_is_every_key_of_the_dictionary():
    from curate.readers.pdf import text

    path = resources.files("spellchecker") / "resources" / "en.json.gz"
    keys = frozenset(json.loads(gzip.decompress(path.read_bytes())))
    assert text.english_words() == keys
    assert {"arbitrary", "self", "reported"} <= keys


def test_keys_with_escapes_are_read_by_a_json_parser(tmp_path, monkeypatch):
    from curate.readers.pdf import text

    folder = tmp_path / "resources"
    folder.mkdir()
    with gzip.open(folder / "en.json.gz", "wt", encoding="utf-8") as f:
        f.write('{"caf\\u00e9": 3, "plain": 1, "say \\"hi\\"": 2}')
    monkeypatch.setattr(text.resources, "files", lambda package: tmp_path)
    text.english_words.cache_clear()
    try:
        assert text.english_words() == {"café", "plain", 'say "hi"'}
    finally:
        text.english_words.cache_clear()
