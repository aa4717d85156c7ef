"""Import jobs: manifests, folders and RewardBench CSVs, row by row, with bad rows recorded and skipped."""

import json
import os
import queue
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from annotation.models import ImportChunk, ImportJob, Judgment, Pair, Video
from annotation.services import imports
from annotation.services.imports import import_chunk_run, import_job_create, import_job_plan, import_job_run
from annotation.services.media import process_video
from annotation.storage import sha256_file
from config.errors import InvalidInput
from tests.annotation.media_clips import bad, clip
from tests.conftest import FIXTURES, wait_until

pytestmark = pytest.mark.django_db

PROMPT_1 = "The camera remains still, a girl with braided hair and wearing a pink dress approached the chair"


@pytest.fixture
def root(settings, tmp_path) -> Path:
    settings.IMPORT_ROOT = tmp_path / "imports"
    settings.IMPORT_ROOT.mkdir()
    return settings.IMPORT_ROOT


def put(root: Path, relative: str, source: Path) -> Path:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target


def run(project, manifest: str, **kwargs) -> ImportJob:
    job = import_job_create(project=project, created_by=None, manifest=manifest, enqueue=False, **kwargs)
    assert import_job_run(job=job)
    job.refresh_from_db()
    return job


def errors(job: ImportJob) -> dict[int, str]:
    return {e["row"]: e["error"] for e in job.errors}


def test_a_jsonl_manifest_imports_the_good_rows_and_records_why_each_bad_row_failed(project_world, root, tmp_path):
    put(root, "batch/clips/a.mp4", clip(40))
    put(root, "batch/clips/b.mp4", clip(41))
    put(root, "batch/clips/readme.mp4", bad("text.mp4"))
    (tmp_path / "outside.mp4").write_bytes(clip(42).read_bytes())
    os.symlink(tmp_path / "outside.mp4", root / "batch/clips/link-out.mp4")
    rows = [
        {"prompt": "a fox", "video": "clips/a.mp4", "model": "m1", "seed": 3, "meta": {"cfg": 7}},
        {"prompt": "a fox", "video": "batch/clips/b.mp4", "model": "m2"},  # from the import root also works
        {"prompt": "a fox", "video": "../../etc/passwd", "model": "m1"},
        {"prompt": "a fox", "video": "/etc/passwd", "model": "m1"},
        {"prompt": "a fox", "video": "clips/link-out.mp4", "model": "m1"},
        {"prompt": "a fox", "video": "clips/missing.mp4", "model": "m1"},
        {"prompt": "a fox", "video": "clips/readme.mp4", "model": "m1"},
        {"prompt": "a fox", "video": "clips/b.mp4", "model": "m1", "seed": "three"},
        {"prompt": "a fox", "video": "clips/b.mp4"},
        "not json",
        {"prompt": "a fox", "video": "./clips/a.mp4", "model": "m1"},  # the same bytes again: the same video
    ]
    (root / "batch/manifest.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")

    job = run(project_world["project"], "batch/manifest.jsonl")

    assert (job.status, job.kind, job.total_rows, job.done_rows, job.failed_rows) == ("succeeded", "manifest", 11, 3, 8)
    assert errors(job) == {
        3: "'../../etc/passwd' contains '..'; paths must stay inside the import root.",
        4: "'/etc/passwd' is an absolute path; give a path relative to the import root.",
        5: "'clips/link-out.mp4' resolves outside the import root (a symlink?); refused.",
        6: "No file 'clips/missing.mp4' under the import root.",
        7: "This is a text file, not a video.",
        8: "seed must be a whole number, not 'three'.",
        9: "'model' is missing or empty.",
        10: "Not valid JSON (Expecting value at character 1).",
    }
    videos = Video.objects.order_by("id")
    assert [(v.generation_model.name, v.seed, v.meta, v.source, v.original_name) for v in videos] == [
        ("m1", 3, {"cfg": 7}, "manifest", "clips/a.mp4"), ("m2", None, {}, "manifest", "batch/clips/b.mp4")]


def test_a_csv_manifest_imports_and_one_missing_a_column_is_refused_up_front(project_world, root):
    put(root, "csv/v.mp4", clip(43))
    (root / "csv/ok.csv").write_text('prompt,video,model,seed,meta\n"a fox, at dusk",v.mp4,m1,5,"{""k"": 1}"\n,v.mp4,m1,,\n')
    job = run(project_world["project"], "csv/ok.csv")
    assert (job.done_rows, job.failed_rows, errors(job)) == (1, 1, {2: "'prompt' is missing or empty."})
    assert Video.objects.get().prompt.text == "a fox, at dusk" and Video.objects.get().meta == {"k": 1}

    (root / "csv/bad.csv").write_text("prompt,video\nx,v.mp4\n")
    with pytest.raises(InvalidInput, match="The CSV lacks columns: model. Expected prompt, video, model"):
        import_job_create(project=project_world["project"], created_by=None, manifest="csv/bad.csv")
    assert ImportJob.objects.count() == 1


@pytest.mark.parametrize("manifest, message", [
    ("../secrets.jsonl", "contains '..'"),
    ("/etc/passwd", "is an absolute path"),
    ("nothing.jsonl", "No file 'nothing.jsonl' under the import root."),
    ("notes.txt", "a manifest is a .jsonl or .csv file"),
])
def test_a_manifest_path_outside_or_missing_is_a_400(project_world, root, manifest, message):
    (root / "notes.txt").write_text("hello")
    response = project_world["clients"]["manager"].post(
        f"/api/v1/projects/{project_world['project'].pk}/imports/", {"manifest": manifest}, format="json")
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()


@pytest.fixture
def videoalign(root) -> Path:
    shutil.copytree(FIXTURES, root / "videoalign")
    return root / "videoalign"


def test_the_videoalign_example_csv_imports_as_videos_pairs_and_imported_judgments(project_world, videoalign):
    client, project = project_world["clients"]["manager"], project_world["project"]
    response = client.post(f"/api/v1/projects/{project.pk}/imports/", {"manifest": "videoalign/example.csv"}, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["kind"], response.json()["total_rows"], response.json()["status"]) == ("rewardbench", 12, "queued")
    job = ImportJob.objects.get()
    assert import_job_run(job=job)

    job = client.get(f"/api/v1/imports/{job.pk}/").json()
    assert (job["status"], job["done_rows"], job["failed_rows"], job["errors"]) == ("succeeded", 12, 0, [])
    assert Video.objects.count() == 6 and set(Video.objects.values_list("source", flat=True)) == {"rewardbench"}
    assert set(Video.objects.values_list("generation_model__name", flat=True)) == {"unknown"}
    assert Pair.objects.count() == 3 and Judgment.objects.filter(imported=True).count() == 12
    pair = Pair.objects.get(prompt__text__startswith=PROMPT_1)
    assert (pair.video_a.original_name, pair.video_b.original_name) == ("videos/example_1_A.mp4", "./videos/example_1_B.mp4")
    assert {tuple(sorted(j.items())) for j in pair.judgments.values_list("choices", flat=True)} == {
        (("mq", "B"), ("ta", "A"), ("vq", "B"))}
    assert (pair.target, pair.done_count, pair.strategy) == (4, 4, "imported"), "imported pairs are complete, not queued"
    ties = Pair.objects.get(prompt__text__contains="abandoned urban building").judgments.first().choices
    assert ties == {"vq": "tie", "mq": "tie", "ta": "A"}


def test_importing_the_same_rewardbench_file_twice_is_refused_so_votes_are_not_doubled(project_world, videoalign):
    client, project = project_world["clients"]["manager"], project_world["project"]
    url = f"/api/v1/projects/{project.pk}/imports/"
    assert client.post(url, {"manifest": "videoalign/example.csv"}, format="json").status_code == 201
    again = client.post(url, {"manifest": "videoalign/example.csv"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_imported"
    assert ImportJob.objects.count() == 1


def test_rewardbench_labels_follow_the_projects_dimensions_and_the_pairs_canonical_order(project_world, videoalign):
    project = project_world["project"]
    project.dimensions = [{"key": "vq", "label": "VQ"}, {"key": "overall", "label": "Overall"}]
    project.save()
    (videoalign / "mixed.csv").write_text(
        "path_A,path_B,A_model,B_model,prompt,VQ,MQ,Overall\n"
        "videos/example_3_A.mp4,videos/example_3_B.mp4,kling,hunyuan,moon run,A,B,b\n"
        "videos/example_3_B.mp4,videos/example_3_A.mp4,hunyuan,kling,moon run,A,same,same\n")
    job = run(project, "videoalign/mixed.csv")
    assert (job.done_rows, job.failed_rows) == (2, 0)
    pair = Pair.objects.get()
    assert (pair.video_a.generation_model.name, pair.video_b.generation_model.name) == ("kling", "hunyuan")
    assert list(pair.judgments.order_by("id").values_list("choices", flat=True)) == [
        {"vq": "A", "overall": "B"},
        {"vq": "B", "overall": "tie"},  # the second row had the videos the other way round
    ]


def test_bad_rewardbench_rows_fail_alone_and_leave_nothing_half_written(project_world, videoalign):
    (videoalign / "bad.csv").write_text(
        "path_A,path_B,prompt,VQ,MQ,TA\n"
        "videos/example_2_A.mp4,videos/missing.mp4,p1,A,B,A\n"
        "videos/example_2_A.mp4,videos/example_2_B.mp4,p2,C,B,A\n"
        "videos/example_2_A.mp4,videos/example_2_A.mp4,p3,A,B,A\n"
        "videos/example_2_A.mp4,videos/example_2_B.mp4,p4,,,\n"
        "videos/example_3_A.mp4,../example.csv,p5,A,B,A\n"
        "videos/example_1_A.mp4,videos/example_1_B.mp4,p6,A,B,A\n")
    job = run(project_world["project"], "videoalign/bad.csv")
    assert (job.done_rows, job.failed_rows) == (1, 5)
    assert errors(job) == {
        1: "path_B 'videos/missing.mp4': No file 'videos/missing.mp4' under the import root.",
        2: "VQ: 'C' is not a label; use A, B or same.",
        3: "path_A and path_B are the same video (identical bytes).",
        4: "The row has no labels (VQ, MQ, TA are all empty).",
        5: "path_B '../example.csv': '../example.csv' contains '..'; paths must stay inside the import root.",
    }
    # Only the good row's two videos exist: row 1's path_A and row 5's path_A were rolled back with their rows.
    assert sorted(Video.objects.values_list("original_name", flat=True)) == ["videos/example_1_A.mp4", "videos/example_1_B.mp4"]
    assert Pair.objects.count() == 1 and Judgment.objects.count() == 1


def test_a_rewardbench_csv_without_labels_or_paths_is_refused_up_front(project_world, videoalign):
    (videoalign / "nolabels.csv").write_text("path_A,path_B,prompt,score\nx,y,z,1\n")
    with pytest.raises(InvalidInput, match="None of the CSV's label columns match this project's dimensions"):
        import_job_create(project=project_world["project"], created_by=None, manifest="videoalign/nolabels.csv")
    (videoalign / "nopaths.csv").write_text("path_A,caption,VQ\nx,z,A\n")
    with pytest.raises(InvalidInput, match="The CSV lacks columns: path_B, prompt"):
        import_job_create(project=project_world["project"], created_by=None, manifest="videoalign/nopaths.csv",
                          kind="rewardbench")


def test_a_chunk_resumes_at_the_first_row_it_has_not_counted(project_world, videoalign):
    job = import_job_create(project=project_world["project"], created_by=None, manifest="videoalign/example.csv",
                            enqueue=False)
    assert import_job_run(job=job, max_seconds=0) is False  # out of time before the first row
    job.refresh_from_db()
    assert (job.status, job.done_rows) == ("running", 0)
    # As if a worker died after nine rows: they were counted with the chunk's position, in their transactions.
    ImportChunk.objects.filter(job=job).update(next_row=10)
    ImportJob.objects.filter(pk=job.pk).update(done_rows=9)
    assert import_job_run(job=job)
    job.refresh_from_db()
    assert (job.status, job.done_rows, Judgment.objects.count()) == ("succeeded", 12, 3)
    assert import_job_run(job=job) and Judgment.objects.count() == 3, "a finished job does nothing"


def test_a_folder_imports_model_folders_with_prompt_files(project_world, root):
    put(root, "round2/wan-dpo/001.mp4", clip(44))
    (root / "round2/wan-dpo/001.txt").write_text("a paper boat on a river\n")
    put(root, "round2/wan-base/001.mp4", clip(45))
    put(root, "round2/loose.mp4", clip(46))
    job = run(project_world["project"], "round2")
    assert (job.done_rows, job.failed_rows) == (1, 2)
    assert set(errors(job).values()) == {"loose.mp4: put videos in a folder named after their model (<model>/loose.mp4).",
                                         "wan-base/001.mp4: no prompt; write it in wan-base/001.txt."}
    video = Video.objects.get()
    assert (video.generation_model.name, video.prompt.text, video.source) == ("wan-dpo", "a paper boat on a river", "folder")


def test_an_uploaded_manifest_names_files_from_the_import_root(project_world, root):
    put(root, "shared/v.mp4", clip(47))
    manifest = SimpleUploadedFile("batch.jsonl", json.dumps({"prompt": "p", "video": "shared/v.mp4", "model": "m"}).encode())
    client, project = project_world["clients"]["manager"], project_world["project"]
    response = client.post(f"/api/v1/projects/{project.pk}/imports/", {"file": manifest}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["source"].startswith("upload:imports/")
    assert import_job_run(job=ImportJob.objects.get()) and Video.objects.count() == 1


def test_a_storage_key_row_imports_a_file_already_in_media_storage(project_world, root):
    key = f"incoming/{uuid.uuid4().hex}.mp4"
    put(Path(django_settings.MEDIA_ROOT), key, clip(48))
    rows = [{"prompt": "p", "video": f"storage:{key}", "model": "m"}, {"prompt": "p", "video": "storage:../x.mp4", "model": "m"}]
    (root / "keys.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    job = run(project_world["project"], "keys.jsonl")
    assert (job.done_rows, errors(job)) == (1, {2: "Storage key '../x.mp4' is not allowed: give a relative key without '..'."})


@pytest.mark.parametrize("role, status", [("manager", 200), ("admin", 200), ("annotator", 403), ("other_manager", 404)])
def test_only_the_projects_managers_see_its_import_jobs(project_world, videoalign, role, status):
    job = import_job_create(project=project_world["project"], created_by=None, manifest="videoalign/example.csv")
    client = project_world["clients"][role]
    assert client.get(f"/api/v1/imports/{job.pk}/").status_code == status
    assert client.get(f"/api/v1/projects/{project_world['project'].pk}/imports/").status_code == status


def test_the_import_videos_command_runs_the_job_and_prints_failed_rows(project_world, videoalign, capsys):
    (videoalign / "two.csv").write_text("path_A,path_B,prompt,VQ\nvideos/example_2_A.mp4,videos/example_2_B.mp4,p,A\n"
                                        "videos/example_2_A.mp4,videos/nope.mp4,p,B\n")
    call_command("import_videos", str(project_world["project"].pk), str(videoalign / "two.csv"))
    out = capsys.readouterr().out
    assert "Import job" in out and "2 rows" in out
    assert "row 2: path_B 'videos/nope.mp4': No file" in out and "1 rows imported, 1 failed" in out
    with pytest.raises(CommandError, match="is not under IMPORT_ROOT"):
        call_command("import_videos", str(project_world["project"].pk), "/etc/passwd")


@pytest.mark.django_db(transaction=True)
def test_an_import_job_runs_on_a_media_worker_and_its_videos_get_processed(celery_worker, django_user_model):
    from annotation.models import Membership, Project
    from tests.conftest import client_for

    project = Project.objects.create(name="imports")
    manager = django_user_model.objects.create_user("import-manager")
    Membership.objects.create(project=project, user=manager, role="manager")
    folder = f"worker-{uuid.uuid4().hex[:8]}"
    root = Path(django_settings.IMPORT_ROOT)
    put(root, f"{folder}/a.mp4", clip(49))
    put(root, f"{folder}/b.mp4", clip(50))
    (root / folder / "m.csv").write_text("path_A,path_B,A_model,B_model,prompt,VQ\na.mp4,b.mp4,x,y,p,A\na.mp4,zz.mp4,x,y,p,B\n")
    client = client_for(manager)
    job = client.post(f"/api/v1/projects/{project.pk}/imports/", {"manifest": f"{folder}/m.csv"}, format="json").json()

    def finished():
        state = client.get(f"/api/v1/imports/{job['id']}/").json()
        return state if state["status"] == "succeeded" else None

    state = wait_until(finished, timeout=60)
    assert (state["done_rows"], state["failed_rows"]) == (1, 1) and state["errors"][0]["row"] == 2
    wait_until(lambda: Video.objects.filter(project=project, status="ready").count() == 2, timeout=60)


def test_a_storage_key_row_needs_a_video_of_a_project_the_requester_manages(project_world, root):
    other_video = put(Path(django_settings.MEDIA_ROOT), f"videos/{uuid.uuid4().hex}/original.mp4", clip(49))
    key = str(other_video.relative_to(django_settings.MEDIA_ROOT))
    other = project_world["other"]
    Video.objects.create(project=other, prompt=other.prompts.create(text="p"), sha256="f" * 64, original=key,
                         generation_model=other.generation_models.create(name="m"))
    (root / "steal.jsonl").write_text(json.dumps({"prompt": "p", "video": f"storage:{key}", "model": "m"}))
    project = project_world["project"]

    def import_as(role: str, in_place: bool) -> ImportJob:
        job = import_job_create(project=project, created_by=project_world["users"][role], manifest="steal.jsonl",
                                enqueue=False, in_place=in_place)
        assert import_job_run(job=job)
        job.refresh_from_db()
        return job

    for in_place in (False, True):  # registering in place is no way around it
        job = import_as("manager", in_place)
        assert (job.done_rows, errors(job)) == (0, {1: f"Storage key {key!r} is not a video of a project you manage; "
                                                       "import the file by its path under the import root, or ask an "
                                                       "admin."})
    assert not project.videos.exists()
    assert import_as("admin", True).done_rows == 1 and project.videos.get().original == key


def test_a_path_component_longer_than_the_file_system_allows_fails_its_row_with_a_reason(project_world, root):
    put(root, "ok.mp4", clip(50))
    rows = [{"prompt": "p", "video": "a" * 300 + ".mp4", "model": "m"}, {"prompt": "p", "video": "ok.mp4", "model": "m"}]
    (root / "long.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    job = run(project_world["project"], "long.jsonl")
    assert (job.done_rows, errors(job)) == (1, {1: f"{'a' * 40!r}… is 304 bytes long; a file or folder name has at most 255."})


@pytest.mark.django_db(transaction=True)
def test_chunks_run_in_parallel_and_the_job_counts_every_row_exactly_once(project_world, root, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 4)
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    for i in range(6):
        put(root, f"par/{i}.mp4", clip(60 + i))
    bad = {3: {"prompt": "p", "video": "missing.mp4", "model": "m"}, 7: {"prompt": "p", "video": "0.mp4", "model": ""},
           11: "not json", 15: {"prompt": "p", "video": "1.mp4", "model": "m", "seed": "x"}}
    good = iter(range(12))
    rows = [bad.get(n) or {"prompt": f"p{n % 3}", "video": f"{next(good) % 6}.mp4", "model": f"m{n % 2}"}
            for n in range(1, 17)]
    (root / "par/m.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows))
    job = import_job_create(project=project_world["project"], created_by=None, manifest="par/m.jsonl", enqueue=False)
    chunks = queue.SimpleQueue()
    for chunk_id in import_job_plan(job=job):
        chunks.put(chunk_id)
    start, failures = threading.Barrier(2), []

    def worker():  # a media worker process, as far as the database can tell: its own connection
        try:
            start.wait()
            while not chunks.empty():
                chunk = ImportChunk.objects.select_related("job__project", "job__created_by").get(pk=chunks.get())
                assert import_chunk_run(chunk=chunk)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == [] and ImportChunk.objects.filter(job=job).count() == 4
    job.refresh_from_db()
    assert (job.status, job.total_rows, job.done_rows, job.failed_rows) == ("succeeded", 16, 12, 4)
    assert sorted(errors(job)) == [3, 7, 11, 15] and [e["row"] for e in job.errors] == [3, 7, 11, 15]
    assert not ImportChunk.objects.filter(job=job, finished_at__isnull=True).exists()
    # Twelve rows over six files: six videos, each once, whichever chunk stored it first.
    assert Video.objects.filter(project=project_world["project"]).count() == 6
    assert sorted(Video.objects.values_list("original_name", flat=True)) == [f"{i}.mp4" for i in range(6)]


def test_in_place_rows_are_registered_without_copying_and_their_media_task_hashes_them(project_world, root):
    put(root, "here/a.mp4", clip(70))
    put(root, "here/a-again.mp4", clip(70))
    key = f"incoming/{uuid.uuid4().hex}.mp4"
    put(Path(django_settings.MEDIA_ROOT), key, clip(71))
    rows = [{"prompt": "p", "video": "a.mp4", "model": "m"}, {"prompt": "p", "video": "a-again.mp4", "model": "m"},
            {"prompt": "p", "video": f"storage:{key}", "model": "m"}, {"prompt": "p", "video": "gone.mp4", "model": "m"}]
    (root / "here/m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    stored = sorted((Path(django_settings.MEDIA_ROOT) / "videos").rglob("original*"))

    job = run(project_world["project"], "here/m.jsonl", in_place=True)

    assert (job.done_rows, errors(job)) == (3, {4: "No file 'gone.mp4' under the import root."})
    videos = list(Video.objects.order_by("id"))
    assert [(v.original, v.sha256, v.status) for v in videos] == [
        ("import-root:here/a.mp4", None, "pending"), ("import-root:here/a-again.mp4", None, "pending"),
        (key, None, "pending")]
    assert sorted((Path(django_settings.MEDIA_ROOT) / "videos").rglob("original*")) == stored, "nothing copied"
    for video in videos:
        process_video(video=video)
    first, again, stored_one = (Video.objects.get(pk=v.pk) for v in videos)
    assert first.status == "ready" and first.sha256 == sha256_file(root / "here/a.mp4") and first.width == 160
    assert (again.status, again.error) == ("failed", f"The same bytes as video {first.pk} of this project; "
                                                     "one copy is enough.")
    assert stored_one.status == "ready" and (root / "here/a.mp4").is_file()


def test_a_row_the_database_refuses_fails_alone_and_its_batch_neighbours_import(project_world, root):
    put(root, "nul/a.mp4", clip(72))
    put(root, "nul/b.mp4", clip(73))
    rows = [{"prompt": "p", "video": "a.mp4", "model": "m"},
            {"prompt": "a\u0000b", "video": "b.mp4", "model": "m"}]  # PostgreSQL text refuses NUL
    (root / "nul/m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    job = run(project_world["project"], "nul/m.jsonl")
    assert job.done_rows == 1 and errors(job)[2].startswith("The database refused the row"), job.errors
    assert list(Video.objects.values_list("original_name", flat=True)) == ["a.mp4"]


def test_in_place_is_asked_for_through_the_api_and_refused_for_rewardbench(project_world, videoalign):
    client, project = project_world["clients"]["manager"], project_world["project"]
    url = f"/api/v1/projects/{project.pk}/imports/"
    refused = client.post(url, {"manifest": "videoalign/example.csv", "in_place": True}, format="json")
    assert refused.status_code == 400 and "in_place" in refused.json()["error"]["fields"]
    (videoalign / "m.jsonl").write_text(json.dumps({"prompt": "p", "video": "videos/example_1_A.mp4", "model": "m"}))
    response = client.post(url, {"manifest": "videoalign/m.jsonl", "in_place": True}, format="json")
    assert response.status_code == 201 and response.json()["in_place"] is True


def test_a_manifest_row_whose_meta_holds_a_nul_fails_with_a_reason(project_world, root):
    put(root, "nul.mp4", clip(51))
    (root / "nul.jsonl").write_text(json.dumps({"prompt": "p", "video": "nul.mp4", "model": "m", "meta": {"k": "a\u0000b"}}))
    job = run(project_world["project"], "nul.jsonl")
    assert (job.done_rows, errors(job)) == (0, {1: "meta contains a NUL character (\\u0000), which the database cannot "
                                                   "store; remove it."})
