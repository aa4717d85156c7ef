"""End to end in headless Chromium: log in, watch both videos, answer with keys, submit, skip, get the next pair.

Real ffmpeg clips served through the assignment-scoped media URLs; every response the page receives is checked
for model names, file names and storage keys.
"""

import pytest

from annotation.models import Assignment, Judgment, Membership, Project
from tests.annotation.queue_world import clip_key, make_pairs
from tests.conftest import make_user
from tests.frontend.conftest import log_in

MODELS = ("crisp-v2", "grainy-v1")
ACTIVE_VIDEOS_READY = """() => {
  const videos = [...document.querySelectorAll('video.active')];
  return videos.length === 2 && videos.every((v) => v.readyState >= 2);
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_annotator_works_through_pairs_with_the_keyboard(live_server, browser_page, orm_beside_playwright):
    project = Project.objects.create(name="Browser", overlap=1, guidelines="Judge each dimension on its own.")
    annotator = make_user("watcher")
    Membership.objects.create(project=project, user=annotator, role="annotator")
    clips = (clip_key("browser-crisp"), clip_key("browser-grainy", noise=40, seed=3))
    pairs = make_pairs(project, 3, models=MODELS, playback=clips)
    prompts = {p.prompt.text for p in pairs}
    secrets = [*MODELS, "test-clips", "browser-crisp", "browser-grainy", ".mp4",
               *(v.sha256 for p in pairs for v in (p.video_a, p.video_b))]

    page = browser_page
    seen, bodies = [], {}

    def record(response):
        seen.append(response)
        # Bodies are read as they arrive: a page navigated away from no longer has them.
        if response.status == 200 and response.request.resource_type in ("document", "fetch", "xhr", "script", "stylesheet"):
            bodies[response.url] = response.text()

    page.on("response", record)

    log_in(page, live_server, "watcher", f"/projects/{project.pk}/annotate/")

    # Pair 1: watch, answer the four dimensions with 1/2/3, submit with Enter.
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    first_prompt = page.inner_text("#prompt")
    assert first_prompt in prompts
    assert page.inner_text("#guidelines") == "Judge each dimension on its own."
    page.keyboard.press("Space")
    page.wait_for_function("() => [...document.querySelectorAll('video.active')].every((v) => v.currentTime > 0.1)")
    page.keyboard.press("Space")
    assert page.is_disabled("#submit")
    for key in ("1", "2", "3"):
        page.keyboard.press(key)
    assert page.is_disabled("#submit")  # one dimension still open
    page.keyboard.press("1")
    assert page.is_enabled("#submit")
    # The next pair is already leased and buffering in the standby players.
    page.wait_for_function("() => [...document.querySelectorAll('video.standby')].every((v) => v.readyState >= 1)")
    page.keyboard.press("Enter")

    # Pair 2 shows at once from the prefetch; skip it with S.
    page.wait_for_function(f"() => document.querySelector('#prompt').textContent !== {first_prompt!r}")
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    second_prompt = page.inner_text("#prompt")
    page.keyboard.press("s")

    # Pair 3: answer with clicks and keys mixed, submit; then nothing is left.
    page.wait_for_function(f"() => document.querySelector('#prompt').textContent !== {second_prompt!r}")
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    third_prompt = page.inner_text("#prompt")
    page.click(".dim[data-key=vq] button[data-choice=right]")
    for key in ("2", "2", "2"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#empty", state="visible")
    page.wait_for_function("() => document.querySelector('#done-today').textContent === '2'")

    judgments = {j.pair.prompt.text: j for j in Judgment.objects.select_related("pair__prompt", "assignment")}
    assert set(judgments) == {first_prompt, third_prompt}
    first = judgments[first_prompt]
    left = first.assignment.shown_left
    right = "B" if left == "A" else "A"
    assert first.choices == {"vq": left, "mq": "tie", "ta": right, "overall": left}
    assert first.duration_ms is not None and first.duration_ms > 0
    assert Assignment.objects.get(pair__prompt__text=second_prompt).status == "skipped"

    # Nothing the page loaded names a model, a file or a storage key: not in URLs, headers or bodies.
    assert any("/assignments/next/" in url for url in bodies) and any("/media/left" in r.url for r in seen)
    for response in seen:
        assert not [s for s in secrets if s in response.url], response.url
        if "/api/" in response.url:
            assert "content-disposition" not in {k.lower() for k in response.headers}, response.url
    for url, body in bodies.items():
        assert not [s for s in secrets if s in body], url
    assert not [s for s in secrets if s in page.content()]
