"""Keyed sources: later versions supersede earlier ones, deletions and dropped versions remove them."""

import polars as pl

from curate.readers.versions import resolve


def test_resolve():
    events = pl.DataFrame(
        [
            # key, id, kind, reason, file, pos
            ("pmid:1", "a/base.xml#PMID1", "record", "", "base.xml", 0),
            ("pmid:2", "a/base.xml#PMID2", "record", "", "base.xml", 1),
            ("pmid:3", "a/base.xml#PMID3", "record", "", "base.xml", 2),
            ("pmid:4", "a/base.xml#PMID4", "record", "", "base.xml", 3),
            ("pmid:5", "a/base.xml#PMID5", "record", "", "base.xml", 4),
            ("pmid:1", "a/upd1.xml#PMID1", "record", "", "upd1.xml", 0),
            ("pmid:2", "", "delete", "deleted_citation|deleted", "upd1.xml", 1),
            ("pmid:3", "", "delete", "superseded|superseded by a version without abstract", "upd1.xml", 2),
            ("pmid:4", "", "delete", "deleted_citation|deleted", "upd1.xml", 3),
            ("pmid:4", "a/upd2.xml#PMID4", "record", "", "upd2.xml", 0),  # re-added after deletion
            ("pmid:6", "", "delete", "deleted_citation|deleted", "upd2.xml", 1),  # never seen: no effect
        ],
        schema=["key", "id", "kind", "reason", "file", "pos"], orient="row",
    )
    assert resolve(events).rows() == [
        ("a/base.xml#PMID1", "superseded", "superseded_by=a/upd1.xml#PMID1"),
        ("a/base.xml#PMID2", "deleted_citation", "pmid:2 deleted in upd1.xml"),
        ("a/base.xml#PMID3", "superseded", "pmid:3 superseded by a version without abstract in upd1.xml"),
        ("a/base.xml#PMID4", "superseded", "superseded_by=a/upd2.xml#PMID4"),
    ]


def test_file_order_beats_input_order():
    events = pl.DataFrame(
        [("pmid:1", "a/n0002.xml#PMID1", "record", "", "n0002.xml", 0),
         ("pmid:1", "a/n0001.xml#PMID1", "record", "", "n0001.xml", 5)],
        schema=["key", "id", "kind", "reason", "file", "pos"], orient="row",
    )
    assert resolve(events)["id"].to_list() == ["a/n0001.xml#PMID1"]


def test_file_names_not_folders_give_the_order():
    events = pl.DataFrame(
        [("pmid:1", "a/updatefiles/n1300.xml#PMID1", "record", "", "updatefiles/n1300.xml", 0),
         ("pmid:1", "a/baseline/n0001.xml#PMID1", "record", "", "baseline/n0001.xml", 0),
         ("pmid:2", "a/z/n0005.xml#PMID2", "record", "", "z/n0005.xml", 0),
         ("pmid:2", "a/a/n0009.xml#PMID2", "record", "", "a/n0009.xml", 0)],
        schema=["key", "id", "kind", "reason", "file", "pos"], orient="row",
    )
    assert sorted(resolve(events)["id"].to_list()) == ["a/baseline/n0001.xml#PMID1", "a/z/n0005.xml#PMID2"]
