"""Each export format against the database, for the hand-made project of exports_world."""

import csv
import hashlib
import json
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.db import IntegrityError, transaction

from annotation.exports.rewardbench import COLUMNS
from annotation.models import DatasetVersion, Judgment
from annotation.services.exports import dataset_version_create, dataset_version_export
from annotation.splits import split_of
from rewardlab.ml.data import load_pairs_jsonl, load_rewardbench_csv
from tests.annotation.exports_world import PROMPTS, build_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_export_root")]

ALL_FORMATS = ["jsonl", "csv", "parquet", "hf", "rewardbench"]
SPLITS = {"train": 0.5, "val": 0.25, "test": 0.25}
# Consensus per pair index (gold pair 4 left out by default), worked out by hand from exports_world.PAIRS.
EXPECTED_CONSENSUS = {
    0: ({"vq": "A", "mq": "tie", "ta": "B", "overall": "A"}, {"vq": 0.6667, "mq": 0.3333, "ta": 1.0, "overall": 1.0}),
    1: ({"vq": "tie", "mq": None, "ta": "A", "overall": "B"}, {"vq": 0.5, "mq": 0.5, "ta": 1.0, "overall": 1.0}),
    2: ({"vq": "B", "mq": "B", "ta": "tie", "overall": "B"}, {"vq": 1.0, "mq": 1.0, "ta": 1.0, "overall": 1.0}),
    3: ({"vq": "A", "mq": "B", "ta": "A", "overall": None}, {"vq": 0.5, "mq": 1.0, "ta": 0.5, "overall": 0.5}),
    5: ({"vq": "A", "mq": "B", "ta": "A", "overall": "tie"}, {"vq": 1.0, "mq": 1.0, "ta": 1.0, "overall": 1.0}),
    6: ({"vq": "tie", "mq": "A", "ta": "B", "overall": "A"}, {"vq": 1.0, "mq": 1.0, "ta": 1.0, "overall": 1.0}),
    7: ({"vq": "A", "mq": "A", "ta": "A", "overall": "A"}, {"vq": 1.0, "mq": 1.0, "ta": 1.0, "overall": 1.0}),
}


def export(world, **request) -> tuple[DatasetVersion, Path]:
    request = {"formats": ALL_FORMATS, "splits": SPLITS, "seed": 7, **request}
    version = dataset_version_create(project=world.project, created_by=world.manager, enqueue=False, **request)
    version = dataset_version_export(version_id=version.pk)
    return version, settings.EXPORT_ROOT / version.folder


def jsonl(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]


def video_fields(video) -> dict:
    return {"path": f"videos/{video.sha256}.mp4", "model": video.generation_model.name, "sha256": video.sha256,
            "fps": video.fps, "num_frames": video.num_frames}


def test_consensus_rows_match_the_votes_adjudications_and_videos():
    world = build_world()
    version, folder = export(world)
    rows = jsonl(folder)
    by_pair = {p.pk: i for i, p in enumerate(world.pairs)}
    assert [by_pair[r["pair_id"]] for r in rows] == [0, 1, 2, 3, 5, 6, 7]  # prompt, then pair order; no gold
    for row in rows:
        i = by_pair[row["pair_id"]]
        pair = world.pairs[i]
        assert list(row) == ["pair_id", "prompt", "video_A", "video_B", "labels", "agreement", "n_judgments", "gold",
                             "imported", "adjudicated", "split"]
        assert (row["labels"], row["agreement"]) == EXPECTED_CONSENSUS[i]
        assert row["prompt"] == pair.prompt.text
        assert row["video_A"] == video_fields(pair.video_a) and row["video_B"] == video_fields(pair.video_b)
        assert row["n_judgments"] == pair.judgments.count()
        assert row["imported"] == (i == 5) and row["adjudicated"] == (i == 3) and row["gold"] is False
        assert row["split"] == split_of(row["prompt"], dict(sorted(SPLITS.items())), 7)
    assert version.row_counts["rows"] == 7 and version.row_counts["pairs"] == 7
    assert version.row_counts["prompts"] == 5 and version.row_counts["judgments"] == 14
    assert version.row_counts["annotators"] == 3 and version.row_counts["labels"]["mq"]["none"] == 1
    assert sum(s["rows"] for s in version.row_counts["splits"].values()) == 7


def test_raw_rows_are_one_per_judgment_with_a_pseudonymous_annotator():
    world = build_world()
    version, folder = export(world, granularity="raw", filters={"include_gold": True})
    rows = jsonl(folder)
    judgments = Judgment.objects.order_by("pair__prompt_id", "pair_id", "id")
    assert len(rows) == judgments.count() == 17
    pseudonyms = {}
    for row, judgment in zip(rows, judgments, strict=True):
        assert list(row) == ["pair_id", "prompt", "video_A", "video_B", "annotator", "choices", "shown_left",
                             "duration_ms", "created_at", "gold", "imported", "split"]
        assert row["pair_id"] == judgment.pair_id and row["choices"] == judgment.choices
        assert row["video_A"] == video_fields(judgment.pair.video_a)
        assert row["shown_left"] == (judgment.shown_left or None) and row["duration_ms"] == judgment.duration_ms
        assert row["created_at"] == judgment.created_at.isoformat()
        assert row["gold"] == judgment.pair.is_gold and row["imported"] == judgment.imported
        if judgment.annotator is None:
            assert row["annotator"] is None
        else:
            assert judgment.annotator.username not in json.dumps(row) and str(judgment.annotator_id) != row["annotator"]
            pseudonyms.setdefault(judgment.annotator_id, row["annotator"])
            assert pseudonyms[judgment.annotator_id] == row["annotator"]  # stable within the version
    assert len(set(pseudonyms.values())) == 3
    assert "ann1" not in (folder / "dataset.jsonl").read_text() + (folder / "manifest.json").read_text()


def test_csv_is_the_jsonl_flattened_with_dotted_columns():
    world = build_world()
    version, folder = export(world, formats=["jsonl", "csv"])
    with open(folder / "dataset.csv", encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[:6] == ["pair_id", "prompt", "video_A.path", "video_A.model", "video_A.sha256", "video_A.fps"]
    assert list(table[0]) == version.manifest["columns"]
    for row, line in zip(jsonl(folder), table, strict=True):
        assert line["prompt"] == row["prompt"] and line["video_B.num_frames"] == str(row["video_B"]["num_frames"])
        assert {d: line[f"labels.{d}"] or None for d in row["labels"]} == row["labels"]
        assert float(line["agreement.vq"]) == row["agreement"]["vq"]
        assert line["adjudicated"] == ("true" if row["adjudicated"] else "false")


def test_parquet_holds_the_same_rows_as_nested_columns():
    world = build_world()
    _, folder = export(world, granularity="raw", formats=["jsonl", "parquet"])
    table = pq.read_table(folder / "dataset.parquet")
    assert table.schema.field("video_A").type.get_field_index("sha256") == 2
    parquet_rows = table.to_pylist()
    for row in parquet_rows:
        row["created_at"] = row["created_at"].isoformat()
    assert parquet_rows == jsonl(folder)


def test_hf_folder_loads_with_load_from_disk_one_dataset_per_split():
    from datasets import load_from_disk

    world = build_world()
    _, folder = export(world, formats=["jsonl", "hf"])
    loaded = load_from_disk(str(folder / "hf"))
    assert sorted(loaded) == ["test", "train", "val"]
    rows = jsonl(folder)
    for split, dataset in loaded.items():
        assert list(dataset) == [r for r in rows if r["split"] == split]
    assert loaded["train"].features["labels"]["vq"].dtype == "string"


def test_rewardbench_csv_has_exactly_the_videoalign_columns_and_labels():
    world = build_world(with_files=True)
    version, folder = export(world, include_videos="folder")
    rows = {r["pair_id"]: r for r in jsonl(folder)}
    seen = 0
    for split in SPLITS:
        path = folder / f"rewardbench_{split}.csv"
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == COLUMNS
            lines = list(reader)
        pairs = load_rewardbench_csv(path)  # the ML engineers' reader, unchanged
        assert len(pairs) == len(lines)
        for line, pair in zip(lines, pairs, strict=True):
            assert {line[c] for c in ("VQ", "MQ", "TA", "Overall")} <= {"A", "B", "same", ""}
            assert pair.path_a.is_file() and pair.path_a == (folder / line["path_A"]).resolve()
            row = next(r for r in rows.values() if r["video_A"]["path"] == line["path_A"]
                       and r["video_B"]["path"] == line["path_B"])
            assert line["A_model"] == row["video_A"]["model"] and line["fps_B"] == str(row["video_B"]["fps"])
            assert line["num_frames_A"] == str(row["video_A"]["num_frames"]) and row["split"] == split
            assert pair.labels == {"vq": row["labels"]["vq"], "mq": row["labels"]["mq"], "ta": row["labels"]["ta"],
                                   "overall": row["labels"]["overall"]}
            seen += 1
    assert seen == version.row_counts["rows"]


def test_jsonl_video_paths_resolve_in_the_version_folder_for_the_ml_loader():
    world = build_world(with_files=True)
    _, folder = export(world, formats=["jsonl"], include_videos="folder")
    pairs = load_pairs_jsonl(folder / "dataset.jsonl")
    assert len(pairs) == 7 and all(p.path_a.is_file() and p.path_b.is_file() for p in pairs)
    assert {p.labels["overall"] for p in pairs} == {"A", "B", "tie", None}
    stored = world.videos[0, 0]
    assert (folder / f"videos/{stored.sha256}.mp4").read_bytes() == (settings.MEDIA_ROOT / stored.playback).read_bytes()


def _data_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def test_the_same_request_over_the_same_judgments_gives_the_same_bytes():
    world = build_world(with_files=True)
    first, folder_1 = export(world, include_videos="tar")
    second, folder_2 = export(world, include_videos="tar")
    assert (first.number, second.number) == (1, 2)
    assert _data_files(folder_1) == _data_files(folder_2)
    assert first.sha256 == second.sha256 == hashlib.sha256((folder_1 / "SHA256SUMS").read_bytes()).hexdigest()
    other_seed, _ = export(world, include_videos="tar", seed=8)
    assert other_seed.sha256 != first.sha256


def test_manifest_records_the_request_counts_and_every_file_hash():
    world = build_world()
    version, folder = export(world, name="March", filters={"annotators": ["ann1", "ann2"], "min_judgments": 2})
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == version.manifest
    assert manifest["version"] == 1 and manifest["name"] == "March" and manifest["seed"] == 7
    assert manifest["splits"] == {"test": 0.25, "train": 0.5, "val": 0.25}
    assert manifest["filters"]["min_judgments"] == 2 and len(manifest["filters"]["annotators"]) == 2
    assert not {"ann1", "ann2"} & set(manifest["filters"]["annotators"])
    assert manifest["filters"]["until_judgment_id"] == Judgment.objects.order_by("id").last().pk
    sums = dict(reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == sorted(manifest["files"])
    for path, info in manifest["files"].items():
        data = (folder / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"] == sums[path] and len(data) == info["bytes"]
    assert manifest["counts"]["rows"] == 3  # pairs 0, 1 and 2 have two judgments from ann1/ann2
    assert manifest["code_version"]


def test_videos_archives_hold_each_video_once_under_videos():
    world = build_world(with_files=True)
    _, tar_folder = export(world, formats=["rewardbench"], include_videos="tar")
    _, zip_folder = export(world, formats=["rewardbench"], include_videos="zip")
    expected = sorted(f"videos/{v.sha256}.mp4" for (p, _), v in world.videos.items() if p != 3)  # not the gold pair's
    with tarfile.open(tar_folder / "videos.tar") as tar:
        assert tar.getnames() == expected
        member = tar.getmember(expected[0])
        assert (member.mtime, member.uid, member.mode) == (0, 0, 0o644)
        sha = expected[0][len("videos/"):-len(".mp4")]
        video = next(v for v in world.videos.values() if v.sha256 == sha)
        assert tar.extractfile(member).read() == (settings.MEDIA_ROOT / video.playback).read_bytes()
    with zipfile.ZipFile(zip_folder / "videos.zip") as zf:
        assert zf.namelist() == expected and zf.testzip() is None


@pytest.mark.parametrize("filters,pair_indexes", [
    ({"include_gold": True}, [0, 1, 2, 3, 4, 5, 6, 7]),
    ({"include_imported": False}, [0, 1, 2, 3, 6, 7]),
    ({"annotators": ["ann3"]}, [0, 2, 3, 6]),
    ({"created_from": "2025-03-01T12:05:00Z", "created_to": "2025-03-01T12:10:00Z"}, [1, 2, 3]),
    ({"min_judgments": 3}, [0, 2]),
    ({"min_agreement": 0.9}, [2, 3, 5, 6, 7]),  # pair 3 is adjudicated, so it stays
])
def test_filters_choose_the_pairs(filters, pair_indexes):
    world = build_world()
    _, folder = export(world, formats=["jsonl"], filters=filters)
    by_pair = {p.pk: i for i, p in enumerate(world.pairs)}
    assert [by_pair[r["pair_id"]] for r in jsonl(folder)] == pair_indexes


def test_a_subset_of_dimensions_narrows_every_format():
    world = build_world()
    version, folder = export(world, filters={"dimensions": ["overall", "vq"]})
    assert jsonl(folder)[0]["labels"] == {"vq": "A", "overall": "A"}  # project order, not request order
    lines = []
    for split in SPLITS:
        with open(folder / f"rewardbench_{split}.csv", encoding="utf-8") as f:
            lines += list(csv.DictReader(f))
    assert len(lines) == 7 and all(line["MQ"] == line["TA"] == "" and line["VQ"] for line in lines[:1])
    assert [d["key"] for d in version.manifest["dimensions"]] == ["vq", "overall"]


def test_a_selection_that_no_pair_survives_fails_and_leaves_no_folder():
    from config.errors import InvalidInput

    world = build_world()
    version = dataset_version_create(project=world.project, created_by=None, formats=["jsonl"], enqueue=False,
                                     filters={"min_judgments": 4})
    with pytest.raises(InvalidInput, match="min_judgments=4"):
        dataset_version_export(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "failed" and "min_judgments=4" in version.error
    assert list((settings.EXPORT_ROOT / str(world.project.pk)).iterdir()) == []


def test_a_published_version_cannot_be_changed_in_the_database():
    world = build_world()
    version, folder = export(world, formats=["jsonl"])
    with pytest.raises(IntegrityError), transaction.atomic():
        DatasetVersion.objects.filter(pk=version.pk).update(sha256="0" * 64)
    # A column added by a later migration too (on SQLite that migration rebuilt the table, dropping its triggers).
    with pytest.raises(IntegrityError), transaction.atomic():
        DatasetVersion.objects.filter(pk=version.pk).update(requeues=9)
    version.name = "renamed"
    with pytest.raises(IntegrityError), transaction.atomic():
        version.save()
    world.manager.delete()  # created_by may still go to NULL
    version.refresh_from_db()
    assert version.created_by is None and version.name == "" and version.sha256 != "0" * 64
    assert not (folder / "dataset.jsonl").stat().st_mode & 0o222  # files are read-only too
    assert dataset_version_export(version_id=version.pk).sha256 == version.sha256  # a redelivered task: no-op


def test_prompts_never_cross_splits():
    world = build_world()
    _, folder = export(world, granularity="raw", splits={"train": 0.34, "val": 0.33, "test": 0.33})
    split_by_prompt = {}
    for row in jsonl(folder):
        assert split_by_prompt.setdefault(row["prompt"], row["split"]) == row["split"]
    assert set(split_by_prompt) == set(PROMPTS) - {PROMPTS[3]}
