"""The Space in a real headless Chromium (Debian `chromium`, driven by Playwright; no browser download).

Clicks through the tabs, checks that audio and piano rolls appear, that errors show as readable toasts, that
'Generate from this melody' carries a melody into text-to-music, that a missing model leaves inspection working, and
that the page fetches nothing outside 127.0.0.1. A user's own melody (issue 18): hummed into a fake microphone
(Chromium plays the repo's hummed example as its capture device), typed as ABC, transposed, generated from, and its
MIDI downloaded. A clip continued (issue 17), then continued again, and refused when too short or silent.
Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from fixtures import EXAMPLE_AUDIO, EXAMPLE_MIDI, ROOT, launch_app

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:  # pragma: no cover - environment check
    pytest.fail("Debian chromium is required for the browser test: apt-get install -y chromium")

import app  # noqa: E402

ARTIFACTS = os.path.join(ROOT, "test-artifacts")
HUMMED_AUDIO = os.path.join(ROOT, "examples", "hummed_melody.flac")
HUMMED_NOTES = os.path.join(ROOT, "examples", "hummed_melody_notes.json")
FAKE_MICROPHONE_SR = 48_000  # Chromium's fake capture device reads 16-bit PCM WAV
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
# G A B c d e in G major (ABC: upper case is the octave from middle C, lower case the one above), a tone higher
ABC_TUNE = "X:1\nL:1/8\nK:G\nGABc d2 e2|]"
ABC_PITCHES_UP_A_TONE = [67 + 2, 69 + 2, 71 + 2, 72 + 2, 74 + 2, 76 + 2]
LOCAL_PREFIXES = ("http://127.0.0.1", "data:", "blob:", "about:")
TIMEOUT_MS = 90_000



@pytest.fixture(scope="module")
def fake_microphone_wav(tmp_path_factory):
    """The repo's hummed example as a 16-bit WAV: what the browser's microphone 'hears' (in a loop)."""
    from mmgen.audio import load_audio, save_audio

    path = tmp_path_factory.mktemp("fake-microphone") / "hummed.wav"
    save_audio(path, load_audio(HUMMED_AUDIO, FAKE_MICROPHONE_SR), FAKE_MICROPHONE_SR)
    return path


@pytest.fixture(scope="module")
def browser(fake_microphone_wav):
    os.makedirs(ARTIFACTS, exist_ok=True)
    microphone = [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_microphone_wav}",
    ]  # fmt: skip
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + microphone)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """`open_page(url)` -> (page, external): external lists every request that left 127.0.0.1."""
    contexts = []

    def _open(url):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["microphone"])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        external = []
        page.on("request", lambda r: None if r.url.startswith(LOCAL_PREFIXES) else external.append(r.url))
        page.goto(url, wait_until="networkidle")
        return page, external

    yield _open
    for context in contexts:
        context.close()


def shot(page, name):
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)


def set_number(page, elem_id, value):
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def wait_audio(page, elem_id, name):
    """An audio output is ready when its download link points at the written file."""
    link = page.locator(f"#{elem_id} a[download]")
    link.wait_for()
    assert link.get_attribute("href").endswith(name)


def wait_image(page, elem_id):
    image = page.locator(f"#{elem_id} img")
    image.wait_for()
    page.wait_for_function(f"() => document.querySelector('#{elem_id} img').naturalWidth > 100")
    return image.get_attribute("src")


def test_three_tabs_in_chromium(model_dir, open_page):
    demo, url = launch_app(model_dir)
    try:
        page, external = open_page(url)
        page.wait_for_function("() => document.title.length > 0")  # Gradio sets the title from its config, late
        assert page.title() == app.TITLE
        tabs = page.get_by_role("tab")
        expect(tabs).to_have_count(4)  # rendered after the title on a busy machine
        names = ["Text to music", "Music to music", "Continue a clip", "Melody inspection"]
        assert [t.inner_text().strip() for t in tabs.all()] == names
        shot(page, "app_01_start")

        # An empty prompt is refused with a readable toast, not a traceback.
        page.locator("#t2m-generate").click()
        toast = page.get_by_text("Please describe the music to generate")
        toast.first.wait_for()
        shot(page, "app_02_empty_prompt_error")
        page.reload(wait_until="networkidle")

        # Text to music from an example prompt.
        page.get_by_text("An Irish jig on fiddle").first.click()
        expect(page.locator("#t2m-prompt textarea")).to_have_value(re.compile("Irish jig"))
        set_number(page, "t2m-seconds", 3)
        set_number(page, "t2m-steps", 4)
        page.locator("#t2m-generate").click()
        wait_audio(page, "t2m-audio", "music.wav")
        wait_image(page, "t2m-melody-view-pianoroll")
        assert "Retrieved melody" in page.locator("#t2m-melody-view-info").inner_text()
        assert "Generated 3.0 s" in page.get_by_text("Generated 3.0 s").first.inner_text()
        shot(page, "app_03_text_to_music")

        # Music to music: upload the example recording, steer it with text.
        page.get_by_role("tab", name="Music to music").click()
        page.locator("#m2m-reference input[type=file]").set_input_files(EXAMPLE_AUDIO)
        page.locator("#m2m-steer textarea").fill("played on a harp")
        set_number(page, "m2m-seconds", 3)
        set_number(page, "m2m-steps", 4)
        page.locator("#m2m-generate").click()
        wait_audio(page, "m2m-audio", "music.wav")
        wait_image(page, "m2m-query-pianoroll")
        wait_image(page, "m2m-melody-view-pianoroll")
        shot(page, "app_04_music_to_music")

        # Melody inspection of the MIDI example, then 'Generate from this melody'.
        page.get_by_role("tab", name="Melody inspection").click()
        page.locator("#inspect-file input[type=file]").set_input_files(EXAMPLE_MIDI)
        page.locator("#inspect-run").click()
        wait_image(page, "inspect-pianoroll")
        wait_audio(page, "inspect-preview", "melody_preview.wav")
        tokens = page.locator("#inspect-tokens textarea").input_value()
        assert tokens.startswith("<") and tokens.count("|") == 30
        assert page.get_by_text("31 notes read from MIDI").first.is_visible()
        shot(page, "app_05_melody_inspection")
        page.locator("#inspect-use").click()
        # the token box sits in an accordion that a follow-up event opens: wait for it as for any server round trip
        expect(page.locator("#t2m-melody textarea")).to_have_value(tokens, timeout=TIMEOUT_MS)
        expect(page.get_by_role("tab", name="Text to music")).to_have_attribute("aria-selected", "true")
        page.locator("#t2m-generate").click()
        page.get_by_text("Your melody (retrieval skipped)").first.wait_for()
        wait_image(page, "t2m-melody-view-pianoroll")
        shot(page, "app_06_generate_from_melody")
        assert external == [], external
    finally:
        demo.close()


def download(page, elem_id, path):
    """Click the download link of a file output and save what the browser received at `path`."""
    with page.expect_download(timeout=TIMEOUT_MS) as event:
        page.locator(f"#{elem_id} a[download]").first.click()
    event.value.save_as(path)
    return path


def midi_pitches(path) -> list[int]:
    """The notes of a MIDI file in time order, read with pretty_midi (not the project's own reader)."""
    import pretty_midi

    notes = [n for instrument in pretty_midi.PrettyMIDI(str(path)).instruments for n in instrument.notes]
    return [n.pitch for n in sorted(notes, key=lambda n: (n.start, n.pitch))]


def test_your_melody_hummed_typed_transposed_in_chromium(model_dir, open_page, tmp_path):
    """Issue 18 in the browser: hum into the (fake) microphone and see its notes, then type an ABC tune, transpose it,
    generate from it and download the guiding melody's MIDI."""
    with open(HUMMED_NOTES, encoding="utf-8") as f:
        sung = {pitch for _, _, pitch in json.load(f)["notes"]}
    demo, url = launch_app(model_dir)
    try:
        page, external = open_page(url)
        page.get_by_text("Your melody (optional)").first.click()

        # Hum it: record a few seconds from the microphone, then look at the notes before generating.
        recorder = page.locator("#t2m-recording")
        recorder.get_by_role("button", name="Record", exact=True).click()
        page.wait_for_timeout(6_000)  # the fake microphone plays the hummed tune meanwhile
        recorder.locator("button.stop-button").first.click()
        recorder.get_by_role("button", name="Download").wait_for()  # the recording reached the server
        page.locator("#t2m-melody-preview").click()
        expect(page.locator("#t2m-melody-preview-info")).to_contain_text("Your melody (voice,", timeout=TIMEOUT_MS)
        wait_image(page, "t2m-melody-roll")
        hummed = midi_pitches(download(page, "t2m-melody-midi", tmp_path / "hummed.mid"))
        assert len(hummed) >= 3, hummed
        # every transcribed note is one the voice sang (no octave slips, no semitone smears)
        assert set(hummed) <= sung, (hummed, sorted(sung))
        shot(page, "app_09_hummed_melody")

        # Type it: an ABC tune wins over the recording; transpose it up a whole tone and look again.
        page.locator("#t2m-melody textarea").fill(ABC_TUNE)
        set_number(page, "t2m-transpose", 2)
        page.locator("#t2m-melody-preview").click()
        info = page.locator("#t2m-melody-preview-info")
        expect(info).to_contain_text("Your melody (abc, 6 notes; transposed +2 semitones)", timeout=TIMEOUT_MS)
        wait_image(page, "t2m-melody-roll")
        shot(page, "app_10_typed_abc_transposed")

        # Generate from it, then take the guiding melody out as MIDI.
        page.locator("#t2m-prompt textarea").fill("a folk tune on a fiddle")
        set_number(page, "t2m-seconds", 3)
        set_number(page, "t2m-steps", 4)
        page.locator("#t2m-generate").click()
        wait_audio(page, "t2m-audio", "music.wav")
        expect(page.locator("#t2m-melody-view-info")).to_contain_text("Your melody (retrieval skipped)",
                                                                     timeout=TIMEOUT_MS)  # fmt: skip
        assert "Edits: transposed +2 semitones" in page.locator("#t2m-melody-view-info").inner_text()
        wait_image(page, "t2m-melody-view-pianoroll")
        downloaded = download(page, "t2m-melody-view-midi", tmp_path / "guiding_melody.mid")
        assert midi_pitches(downloaded) == ABC_PITCHES_UP_A_TONE
        shot(page, "app_11_generated_from_typed_abc")
        assert external == [], external
    finally:
        demo.close()


def write_wav(path, seconds: float, amplitude: float) -> str:
    """A 440 Hz tone of `seconds` at `amplitude` (0: silence), as a 16-bit WAV an upload would bring."""
    import numpy as np

    from mmgen.audio import SAMPLE_RATE, save_audio

    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    save_audio(path, (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SAMPLE_RATE)
    return str(path)


def audio_seconds(path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def clip_href(page) -> str | None:
    """Where the 'Continue a clip' tab's clip is served from (None while it holds none)."""
    link = page.locator("#cont-clip a[download]")
    return link.first.get_attribute("href") if link.count() else None


def wait_clip_changed(page, before: str | None, name: str = "") -> None:
    """Wait until the tab holds another clip than `before` (its link ending in `name`): a click or an upload reaches
    the server before the next click may use the clip."""
    page.wait_for_function(
        "([before, name]) => { const a = document.querySelector('#cont-clip a[download]');"
        " const href = a === null ? null : a.getAttribute('href');"
        " return href !== null && href !== before && href.endsWith(name); }",
        arg=[before, name],
    )


def test_continue_a_clip_in_chromium(model_dir, open_page, tmp_path):
    """Issue 17 in the browser: 'Continue this clip' under a generated clip brings it to the 'Continue a clip' tab,
    which continues it (the clip and the new seconds in one file, the new part's melody drawn) and can continue the
    result again; a clip too short or silent to continue is refused with a readable toast."""
    demo, url = launch_app(model_dir)
    try:
        page, external = open_page(url)
        page.locator("#t2m-prompt textarea").fill("a folk tune on a fiddle")
        set_number(page, "t2m-seconds", 3)
        set_number(page, "t2m-steps", 4)
        page.locator("#t2m-generate").click()
        wait_audio(page, "t2m-audio", "music.wav")

        # 'Continue this clip' carries the generated clip over and selects the tab.
        page.locator("#t2m-continue").click()
        expect(page.get_by_role("tab", name="Continue a clip")).to_have_attribute("aria-selected", "true")
        wait_clip_changed(page, None, "music.wav")
        set_number(page, "cont-seconds", 2)
        set_number(page, "cont-steps", 4)
        for elem_id, value in (("cont-seconds", "2"), ("cont-steps", "4")):  # a tab just shown may mount late
            expect(page.locator(f"#{elem_id} input[type=number]")).to_have_value(value)
        page.locator("#cont-generate").click()
        timing = page.locator(".mmgen-timing").filter(has_text="Continued").first
        expect(timing).to_contain_text("by 2.0 s: 5.0 s in all", timeout=TIMEOUT_MS)
        wait_audio(page, "cont-audio", "music.wav")
        wait_image(page, "cont-melody-view-pianoroll")
        assert audio_seconds(download(page, "cont-audio", tmp_path / "continued.wav")) == pytest.approx(5.0, abs=0.05)
        shot(page, "app_12_continued_clip")

        # The continuation can itself be continued: it becomes the clip, and two more seconds follow.
        before = clip_href(page)
        page.locator("#cont-continue").click()
        wait_clip_changed(page, before)
        page.locator("#cont-generate").click()
        expect(timing).to_contain_text("by 2.0 s: 7.0 s in all", timeout=TIMEOUT_MS)
        assert audio_seconds(download(page, "cont-audio", tmp_path / "again.wav")) == pytest.approx(7.0, abs=0.05)

        # What cannot be continued is named in a toast: a clip shorter than a second, and a silent one.
        for name, seconds, amplitude, message in (("short.wav", 0.5, 0.3, "at least 1 s is needed"),
                                                  ("quiet.wav", 3.0, 0.0, "the audio is silent")):  # fmt: skip
            before = clip_href(page)
            page.locator("#cont-clip button[aria-label='Clear']").first.click()
            page.locator("#cont-clip input[type=file]").set_input_files(write_wav(tmp_path / name, seconds, amplitude))
            wait_clip_changed(page, before, name)
            page.locator("#cont-generate").click()
            toast = page.get_by_text(message)
            toast.first.wait_for()
            assert name in toast.first.inner_text()
            shot(page, f"app_13_continue_refused_{name[:-4]}")
        assert external == [], external
    finally:
        demo.close()


def test_missing_model_notice_and_working_inspection(tmp_path, open_page):
    demo, url = launch_app(str(tmp_path / "no-model"))
    try:
        page, external = open_page(url)
        notice = page.locator(".mmgen-notice").first
        assert "Generation is unavailable" in notice.inner_text() and "--model" in notice.inner_text()
        assert page.locator("#t2m-generate").is_disabled()
        shot(page, "app_07_missing_model")
        page.get_by_role("tab", name="Melody inspection").click()
        page.locator("#inspect-file input[type=file]").set_input_files(EXAMPLE_AUDIO)
        page.locator("#inspect-run").click()
        wait_image(page, "inspect-pianoroll")
        assert page.get_by_text("transcribed with Basic Pitch").first.is_visible()
        shot(page, "app_08_inspection_without_model")
        assert external == [], external
    finally:
        demo.close()
