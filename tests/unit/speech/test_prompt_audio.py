"""Text prompts rendered by the real espeak-ng and sox into 8 kHz WAV files, cached by content."""

from __future__ import annotations

import hashlib
import os
import shutil
import wave
from pathlib import Path

import pytest

from engine.flows.prompt_inventory import static_prompts
from engine.flows.simulator import load_simulation
from engine.speech.prompt_audio import EspeakNg, PromptCache, PromptRenderFailed

REPO = Path(__file__).resolve().parents[3]
def level(path: Path) -> tuple[float, float]:
    """(seconds, RMS as a share of full scale) of a 16-bit mono WAV."""
    with wave.open(str(path)) as audio:
        frames = audio.readframes(audio.getnframes())
        seconds = audio.getnframes() / audio.getframerate()
    samples = memoryview(frames).cast("h")
    return seconds, (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5 / 32768


needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng and sox are installed by `make test`")


def instance_folder(tmp_path: Path) -> Path:
    """A folder like the Asterisk instance's: in a group that is not root's (ASTERISK_GID here)."""
    folder = tmp_path / "instance"
    folder.mkdir()
    os.chown(folder, -1, ASTERISK_GID)
    return folder


ASTERISK_GID = 4321


@needs_tts
def test_a_prompt_folder_whose_parent_is_in_the_root_group_stays_readable_by_all(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Asterisk drops root, so the root group cannot be how it reads prompts: files stay 0644, and a warning says so."""
    os.chown(tmp_path, -1, 0)
    path = PromptCache(tmp_path / "prompts", EspeakNg()).ensure("Hello.", "en")
    assert path.stat().st_mode & 0o777 == 0o644
    assert "readable by all" in caplog.text


@needs_tts
@pytest.mark.parametrize(("language", "text"), [("ko", "요금 문의는 1번을 눌러 주세요."), ("en", "For billing press one."), ("zh", "请按一")])
def test_each_language_renders_to_phone_ready_audio(tmp_path: Path, language: str, text: str) -> None:
    tmp_path = instance_folder(tmp_path) / "prompts"
    path = PromptCache(tmp_path, EspeakNg()).ensure(text, language)
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
    seconds, rms = level(path)
    assert seconds > 0.5 and rms > 0.01, (seconds, rms)
    assert path.stat().st_mode & 0o777 == 0o640, "readable by Asterisk's group, by nobody else"
    assert path.stat().st_gid == tmp_path.parent.stat().st_gid, "the group of the folder Asterisk's instance lives in"
    assert tmp_path.stat().st_mode & 0o7777 == 0o2750


@needs_tts
def test_a_prompt_is_rendered_once_and_an_edit_makes_a_new_file(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, EspeakNg())
    first = cache.ensure_all([("안녕하세요.", "ko"), ("안녕하세요.", "ko"), ("Hello.", "en")])
    assert (first.rendered, first.reused) == (2, 0)
    again = cache.ensure_all([("안녕하세요.", "ko"), ("Hello.", "en"), ("Hello there.", "en")])
    assert (again.rendered, again.reused) == (1, 2)
    assert cache.path_for("Hello.", "en") != cache.path_for("Hello.", "ko")
    assert not list(tmp_path.glob("*.partial")), "no half-written file is left behind"


@needs_tts
def test_the_sample_flows_static_prompts_all_render(tmp_path: Path) -> None:
    for flow in ("support_ko", "support_en", "support_zh"):
        flow_set = load_simulation(flow, REPO / "ivr_flows")
        prompts = static_prompts({flow: flow_set.flows[flow]}, flow_set.procedures)
        assert len(prompts) >= 10 and all("{" not in text for text, _ in prompts)
        report = PromptCache(tmp_path, EspeakNg()).ensure_all(prompts)
        assert report.rendered + report.reused == len(prompts)


def test_mandarin_is_spoken_as_tone_numbered_pinyin_and_never_reuses_a_cmn_render(tmp_path: Path) -> None:
    """espeak-ng's `cmn` voice reads pinyin letters as English; a render it made must not be played again."""
    assert EspeakNg().spoken("我要查询话费", "zh") == ("cmn-latn-pinyin", "wo3 yao4 cha2 xun2 hua4 fei4")
    assert EspeakNg().spoken("For billing press one.", "en") == ("en-us", "For billing press one.")
    key_before_pinyin = hashlib.sha256("espeak-ng\0zh\0请按一".encode()).hexdigest()[:32]
    assert PromptCache(tmp_path, EspeakNg()).path_for("请按一", "zh").name != f"zh-{key_before_pinyin}.wav"


def test_unknown_language_and_bad_text_are_named(tmp_path: Path) -> None:
    with pytest.raises(PromptRenderFailed, match="no voice configured for language `fr`"):
        EspeakNg().render("Bonjour", "fr", tmp_path / "x.wav")
    with pytest.raises(PromptRenderFailed, match="1-2000 characters"):
        PromptCache(tmp_path, EspeakNg()).ensure("   ", "ko")


def test_a_missing_tts_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PromptRenderFailed, match=r"espeak-ng is not installed; run `apt-get install espeak-ng`"):
        EspeakNg().render("hello", "en", tmp_path / "x.wav")


@needs_tts
def test_a_per_call_prompt_is_the_calls_alone_and_goes_with_it(tmp_path: Path) -> None:
    import os
    import time

    cache = PromptCache(instance_folder(tmp_path) / "prompts", EspeakNg())
    mine = cache.ensure_for_call("Your number is 0 1 0 1 2 3 4.", "en", "1700.1")
    other = cache.ensure_for_call("Your number is 0 1 0 1 2 3 4.", "en", "1700.2")
    assert mine != other and mine.name.startswith("call-") and mine.stat().st_mode & 0o777 == 0o640
    assert not cache.path_for("Your number is 0 1 0 1 2 3 4.", "en").exists(), "never in the shared cache"
    assert cache.remove_call_prompts("1700.1") == 1
    assert not mine.exists() and other.exists()
    os.utime(other, (time.time() - 7200, time.time() - 7200))
    assert cache.remove_stale_call_prompts(3600) == 1 and not other.exists()


def test_renders_no_flow_uses_are_removed_at_start(tmp_path: Path) -> None:
    import os
    import time

    cache = PromptCache(tmp_path, EspeakNg())
    static = cache.path_for("Welcome.", "en")
    personal = cache.path_for("Hello Kim Minsu, your balance is 3 200 won.", "ko")  # cached by an older version
    fresh = cache.path_for("Just rendered by another engine.", "en")
    recorded = tmp_path / "file-0123456789abcdef01234567.wav"
    for path in (static, personal, fresh, recorded):
        path.write_bytes(b"RIFF")
    for path in (static, personal, recorded):
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    assert cache.remove_unlisted([("Welcome.", "en")], older_than_s=3600) == 1
    assert not personal.exists() and static.exists() and fresh.exists() and recorded.exists()
