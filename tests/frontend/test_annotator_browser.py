"""End to end in headless Chromium at a 1280x800 laptop's size: log in, watch both videos, scrub, answer with
keys, submit, skip, reload, get the next pair.

Real ffmpeg clips served through the assignment-scoped media URLs; every response the page receives is checked
for model names, file names and storage keys.
"""

import json

import pytest
from playwright.sync_api import Page, expect

from annotation.models import Assignment, Judgment, Membership, Project
from tests.annotation.queue_world import clip_key, make_pairs
from tests.conftest import PASSWORD, make_user
from tests.frontend.conftest import LAPTOP, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODELS = ("crisp-v2", "grainy-v1")
ACTIVE_VIDEOS_READY = """() => {
  const videos = [...document.querySelectorAll('video.active')];
  return videos.length === 2 && videos.every((v) => v.readyState >= 2);
}"""


def test_annotator_works_through_pairs_with_the_keyboard(live_server, laptop_page, orm_beside_playwright):
    project = Project.objects.create(name="Browser", overlap=1, guidelines="Judge each dimension on its own.")
    annotator = make_user("watcher")
    Membership.objects.create(project=project, user=annotator, role="annotator")
    clips = (clip_key("browser-crisp"), clip_key("browser-grainy", noise=40, seed=3))
    pairs = make_pairs(project, 3, models=MODELS, playback=clips)
    prompts = {p.prompt.text for p in pairs}
    secrets = [*MODELS, "test-clips", "browser-crisp", "browser-grainy", ".mp4",
               *(v.sha256 for p in pairs for v in (p.video_a, p.video_b))]

    page = laptop_page
    seen, bodies = [], {}

    def record(response):
        seen.append(response)
        # Bodies are read as they arrive: a page navigated away from no longer has them.
        if response.status == 200 and response.request.resource_type in ("document", "fetch", "xhr", "script", "stylesheet"):
            bodies[response.url] = response.text()

    page.on("response", record)
    queue_calls = []  # (url, body) of every next/submit/skip the page sends, in order
    page.on("request", lambda r: queue_calls.append((r.url, r.post_data)) if "/assignments/" in r.url
            and r.method == "POST" else None)

    log_in(page, live_server, "watcher", f"/projects/{project.pk}/annotate/")

    # Pair 1: watch, answer the four dimensions with 1/2/3, submit with Enter.
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    first_prompt = page.inner_text("#prompt")
    assert first_prompt in prompts
    assert page.inner_text("#guidelines") == "Judge each dimension on its own."
    page.keyboard.press("Space")
    page.wait_for_function("() => [...document.querySelectorAll('video.active')].every((v) => v.currentTime > 0.1)")
    page.keyboard.press("Space")
    expect(page.locator("#submit")).to_have_attribute("aria-disabled", "true")
    for key in ("1", "2", "3"):
        page.keyboard.press(key)
    expect(page.locator("#submit")).to_have_attribute("aria-disabled", "true")  # one dimension still open
    page.keyboard.press("1")
    expect(page.locator("#submit")).to_have_attribute("aria-disabled", "false")
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

    # One request per judgment: the first submit also leased the pair after the prefetched one, so no next/ was
    # sent between it and the skip.
    calls = [(url.split("/api/v1/")[1], json.loads(body or "{}")) for url, body in queue_calls]
    first_submit = next(i for i, (url, _) in enumerate(calls) if url.endswith("/submit/"))
    prefetched = Assignment.objects.get(pair__prompt__text=second_prompt).pk
    assert calls[first_submit][1]["next"] is True and calls[first_submit][1]["after"] == prefetched
    assert calls[first_submit + 1][0] == f"assignments/{prefetched}/skip/"

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


# ---- one point of the page each, on a small world: two pairs of real 1 s clips at 8 frames a second ----------

FRAME_S = 1 / 8
VIDEO_TIMES = "() => [...document.querySelectorAll('video.active')].map((v) => v.currentTime)"
ANSWERS_SHOWN = """() => Object.fromEntries([...document.querySelectorAll('.dim')].map((dim) =>
  [dim.dataset.key, dim.querySelector('[aria-checked=true]')?.dataset.choice || null]))"""
FOCUSED_DIMENSION = "() => document.activeElement.closest('.dim')?.dataset.key || null"
NOBODY_ANSWERED = {"vq": None, "mq": None, "ta": None, "overall": None}


def annotating(page: Page, live_server, *, pairs: int = 2, username: str = "watcher") -> Project:
    """A project with ``pairs`` pairs and one annotator, logged in on its page with both videos ready."""
    project = Project.objects.create(name="Laptop", overlap=1, guidelines="Judge each dimension on its own.")
    Membership.objects.create(project=project, user=make_user(username), role="annotator")
    make_pairs(project, pairs, models=MODELS, playback=(clip_key("browser-crisp"), clip_key("browser-grainy", noise=40)))
    log_in(page, live_server, username, f"/projects/{project.pk}/annotate/")
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    return project


def next_prompt(page: Page, previous: str) -> str:
    page.wait_for_function(f"() => document.querySelector('#prompt').textContent !== {previous!r}")
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    return page.inner_text("#prompt")


def boxes(page: Page, selector: str) -> list[dict]:
    located = page.locator(selector)
    return [box for i in range(located.count()) if (box := located.nth(i).bounding_box())]


def inside_window(box: dict) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"] \
        and box["y"] + box["height"] <= LAPTOP["height"]


def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] \
        and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_the_seek_slider_scrubs_both_videos_lands_within_a_frame_and_stays(live_server, laptop_page,
                                                                           orm_beside_playwright):
    page = laptop_page
    annotating(page, live_server)
    slider = page.locator("#seek").bounding_box()
    y = slider["y"] + slider["height"] / 2

    def at(fraction: float) -> float:
        return slider["x"] + slider["width"] * fraction

    def position() -> float:
        return float(page.input_value("#seek"))

    def assert_both_videos_at(time: float) -> None:
        assert all(abs(t - time) <= FRAME_S for t in page.evaluate(VIDEO_TIMES)), (time, page.evaluate(VIDEO_TIMES))

    # Dragging: both videos follow the thumb while the button is still down.
    page.mouse.move(at(0.1), y)
    page.mouse.down()
    page.mouse.move(at(0.7), y, steps=6)
    dragged_to = position()
    assert 0.6 < dragged_to < 0.8
    assert_both_videos_at(dragged_to)
    page.mouse.up()
    assert position() == pytest.approx(dragged_to, abs=1e-3)  # stays where it was put
    assert_both_videos_at(dragged_to)

    # A click seeks too.
    page.mouse.click(at(0.3), y)
    clicked_at = position()
    assert 0.2 < clicked_at < 0.4
    assert_both_videos_at(clicked_at)

    # The slider hands the arrows back to the page: one frame on, both videos.
    page.keyboard.press("ArrowRight")
    assert position() == pytest.approx(clicked_at + FRAME_S, abs=0.01)
    assert_both_videos_at(clicked_at + FRAME_S)
    assert page.evaluate("() => [...document.querySelectorAll('video.active')].every((v) => v.paused)")


def test_enter_with_dimensions_open_names_them_in_view_focuses_the_first_and_sends_nothing(
        live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    annotating(page, live_server)
    submits = []
    page.on("request", lambda request: submits.append(request.url) if "/submit/" in request.url else None)
    message = page.locator("#message")

    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(message).to_have_text("Answer Motion Quality, Text Alignment and Overall before submitting.")
    assert inside_window(message.bounding_box())
    assert page.evaluate(FOCUSED_DIMENSION) == "mq"

    # A click on Submit says the same; the message shrinks as answers come in, and goes when none is left.
    page.keyboard.press("2")
    page.locator("#submit").click(force=True)  # it reads as dimmed, so Playwright would not click it unforced
    expect(message).to_have_text("Answer Text Alignment and Overall before submitting.")
    page.keyboard.press("3")
    expect(message).to_have_text("Answer Overall before submitting.")
    page.keyboard.press("1")
    expect(message).to_have_text("")
    assert submits == [] and not Judgment.objects.exists()

    page.keyboard.press("Enter")
    expect(message).to_have_text("Saved.")
    assert len(submits) == 1 and Judgment.objects.count() == 1


def test_on_a_laptop_videos_every_dimension_and_submit_fit_the_window_and_no_message_covers_a_control(
        live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    annotating(page, live_server)
    controls = "button:visible, input:visible, select:visible, video.active"

    def assert_fits() -> None:
        assert page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight")
        needed = [*boxes(page, "video.active"), *boxes(page, ".dim"), *boxes(page, "#submit"), *boxes(page, "#skip")]
        assert len(needed) == 2 + 4 + 2
        assert all(inside_window(box) for box in needed), needed
        # Videos large enough to judge, not thumbnails.
        assert all(box["height"] >= 200 for box in boxes(page, "video.active")), boxes(page, "video.active")

    def assert_message_covers_nothing() -> None:
        shown = page.locator("#message").bounding_box()
        assert inside_window(shown)
        assert not [box for box in boxes(page, controls) if overlap(shown, box)]

    assert_fits()
    page.keyboard.press("Enter")  # nothing answered: the longest message there is
    expect(page.locator("#message")).to_contain_text("Visual Quality")
    assert_message_covers_nothing()
    assert_fits()

    first = page.inner_text("#prompt")
    for key in ("1", "2", "3", "2"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    next_prompt(page, first)
    expect(page.locator("#message")).to_have_text("Saved.")
    assert_message_covers_nothing()
    assert_fits()


def test_answers_survive_a_reload_and_are_dropped_once_submitted(live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    annotating(page, live_server)
    prompt = page.inner_text("#prompt")
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.fill("#comment", "jitter near the end")
    page.keyboard.press("Escape")

    page.reload()
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    assert page.inner_text("#prompt") == prompt
    assert page.evaluate(ANSWERS_SHOWN) == {"vq": "left", "mq": "tie", "ta": None, "overall": None}
    assert page.input_value("#comment") == "jitter near the end"
    assert page.get_attribute(".dim.focus", "data-key") == "ta"  # the keys carry on where they left off

    page.keyboard.press("3")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    next_prompt(page, prompt)
    judgment = Judgment.objects.get()
    assert judgment.comment == "jitter near the end"
    assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('vidpref:answers:'))") == []
    page.reload()
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    assert page.evaluate(ANSWERS_SHOWN) == NOBODY_ANSWERED


def test_the_project_counter_and_done_today_change_as_soon_as_a_submit_returns(live_server, laptop_page,
                                                                               orm_beside_playwright):
    page = laptop_page
    annotating(page, live_server, pairs=3)
    expect(page.locator("#remaining")).to_have_text("3")  # the server caches this figure for 15 s
    expect(page.locator("#done-today")).to_have_text("0")

    for key in ("1", "1", "1", "1", "Enter"):
        page.keyboard.press(key)

    # Well inside the cache's 15 s: the figure comes from the submit, not from the cache running out.
    expect(page.locator("#remaining")).to_have_text("2", timeout=5000)
    expect(page.locator("#done-today")).to_have_text("1", timeout=5000)


def test_a_focused_button_takes_its_own_enter_and_space(live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    annotating(page, live_server)
    first = page.inner_text("#prompt")

    page.focus("#skip")
    page.keyboard.press("Enter")  # skips; it does not try to submit
    next_prompt(page, first)
    assert Assignment.objects.get(pair__prompt__text=first).status == "skipped"

    page.focus(".dim[data-key=mq] button[data-choice=right]")
    page.keyboard.press("Space")  # picks that answer; it does not start playback
    assert page.evaluate(ANSWERS_SHOWN) == {**NOBODY_ANSWERED, "mq": "right"}
    assert page.evaluate("() => [...document.querySelectorAll('video.active')].every((v) => v.paused)")
    assert page.evaluate(VIDEO_TIMES) == [0, 0]
    assert page.evaluate("() => document.activeElement.dataset.choice") == "right"  # focus stays for the keyboard


def test_single_key_shortcuts_can_be_turned_off_and_stay_off(live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    annotating(page, live_server)
    expect(page.locator(".keys")).to_contain_text("Untick this")

    page.uncheck("#single-keys")
    page.locator("#single-keys").blur()
    page.reload()
    page.wait_for_function(ACTIVE_VIDEOS_READY)
    assert not page.is_checked("#single-keys")
    for key in ("1", "2", "3", "s", "Space"):
        page.keyboard.press(key)
    assert page.evaluate(ANSWERS_SHOWN) == NOBODY_ANSWERED
    assert page.evaluate("() => [...document.querySelectorAll('video.active')].every((v) => v.paused)")
    assert not Assignment.objects.filter(status="skipped").exists()

    # Enter and the arrows are not single characters: they keep working.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Answer Visual Quality")

    page.check("#single-keys")
    page.locator("#single-keys").blur()
    page.keyboard.press("3")
    assert page.evaluate(ANSWERS_SHOWN) == {**NOBODY_ANSWERED, "vq": "right"}


def test_a_wrong_password_keeps_the_username(live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    make_user("forgetful")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "forgetful")
    page.fill("input[name=password]", "not-" + PASSWORD)
    page.click("button[type=submit]")

    expect(page.locator("[role=alert]")).to_have_text("Wrong username or password.")
    assert page.input_value("input[name=username]") == "forgetful"
    assert page.evaluate("() => document.activeElement.name") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


def test_runs_refuses_a_project_manager_saying_staff_status_is_needed(live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    project = Project.objects.create(name="Managed")
    Membership.objects.create(project=project, user=make_user("boss"), role="manager")
    log_in(page, live_server, "boss", "/")

    response = page.goto(f"{live_server.url}/runs/")

    assert response.status == 403
    text = page.inner_text("main")
    assert "staff status" in text and "project manager" not in text


def test_the_runs_pages_error_boxes_are_live_regions(live_server, laptop_page, orm_beside_playwright):
    page = laptop_page
    make_user("admin", staff=True)
    log_in(page, live_server, "admin", "/runs/")

    error_boxes = page.locator("[data-role=error]")
    assert error_boxes.count() >= 4
    for i in range(error_boxes.count()):
        expect(error_boxes.nth(i)).to_have_attribute("aria-live", "polite")
