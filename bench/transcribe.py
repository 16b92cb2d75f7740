"""Transcription speed and whether the worker pool keeps up with the ACD chaos test's volume. Prints a table.

Why: every recorded call is transcribed after it ends, in worker processes, on the same 2-core box
that runs live menus. The question is how many seconds of CPU a second of recording costs (the
real-time factor), and whether 1 or 2 workers keep up with the busiest load the tests make: the
chaos test (tests/integration/test_acd_chaos.py), 200 callers at 5 a second of whom about 54 reach
an agent and talk 0-14 s (mean about 5 s) within about 60 s.

Synthetic stereo calls (espeak-ng Korean through a mu-law line: caller left, agent right; the
agent greets, asks, answers, the caller talks back, with pauses) are transcribed exactly as the
engine does (engine/recording/transcriber.py: spawned processes, the QA files' phrases spotted).

One run on a noisy 2-core machine: ratios and percentiles, no asserts. The last line is machine-readable:
    transcribe rtf_p50=<x> rtf_p95=<y> audio_s_per_wall_s_1w=<a> audio_s_per_wall_s_2w=<b> chaos_backlog_s_1w=<c>
Run: .venv/bin/python bench/transcribe.py [--calls N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import wave
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from engine.config.acd_config import load_acd
from engine.config.qa_config import load_quality
from engine.recording.transcriber import TranscriptionJob, transcribe_job, worker_pool
from engine.settings import load_settings
from engine.speech.speech_service import find_model

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "transcribe-bench"
AGENT = ["안녕하세요 상담원 김민수 입니다", "고객 번호 알려 주세요", "네 확인해 드리겠습니다 잠시만 기다려 주세요", "요금은 다음 달에 환불해 드리겠습니다", "감사합니다 좋은 하루 되세요"]
CALLER = ["요금 문의 때문에 전화 했어요", "이번 달 요금이 너무 많이 나왔어요", "네 알겠습니다", "감사합니다"]
CHAOS_ANSWERED, CHAOS_MEAN_TALK_S, CHAOS_WINDOW_S = 54, 5.0, 60.0


def spoken(text: str, path: Path) -> np.ndarray:
    """espeak-ng through a mu-law phone line, 8 kHz 16-bit (cached)."""
    if not path.exists():
        audio = subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "--stdout", text], capture_output=True, check=True).stdout
        line = subprocess.run(["sox", "-q", "-t", "wav", "-", "-r", "8000", "-c", "1", "-t", "ul", "-"], input=audio, capture_output=True, check=True).stdout
        subprocess.run(["sox", "-q", "-t", "ul", "-r", "8000", "-c", "1", "-", "-b", "16", "-e", "signed-integer", str(path)], input=line, check=True)
    with wave.open(str(path), "rb") as source:
        return np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")


def synthetic_call(index: int) -> Path:
    """A stereo call of turns: agent, caller, agent, ... with 0.5-1.5 s between turns."""
    path = CACHE / f"call-{index}.wav"
    if path.exists():
        return path
    rng = np.random.default_rng(index)
    left, right = [], []
    turns = [("agent", AGENT[0]), ("caller", CALLER[0]), ("agent", AGENT[1]), ("caller", CALLER[1]), ("agent", AGENT[2]), ("agent", AGENT[3]), ("caller", CALLER[2]), ("agent", AGENT[4])]
    for turn, (speaker, text) in enumerate(turns[: 4 + index % 5]):
        voice = spoken(text, CACHE / f"{abs(hash(text)) % 10**8}.wav")
        gap = np.zeros(int(8000 * rng.uniform(0.5, 1.5)), dtype="<i2")
        silence = np.zeros(voice.size, dtype="<i2")
        left += [gap, silence if speaker == "agent" else voice]
        right += [gap, voice if speaker == "agent" else silence]
    frames = np.stack([np.concatenate(left), np.concatenate(right)], axis=1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(frames.astype("<i2").tobytes())
    return path


def run(pool: ProcessPoolExecutor, jobs: list[TranscriptionJob]) -> tuple[float, list[float], float]:
    """(wall seconds, RTF per call, audio seconds) for all jobs through the pool (models warmed first)."""
    list(pool.map(transcribe_job, jobs[: pool._max_workers]))  # type: ignore[attr-defined]  # load each worker's model
    began = time.perf_counter()
    transcripts = list(pool.map(transcribe_job, jobs))
    wall = time.perf_counter() - began
    return wall, [t.real_time_factor for t in transcripts], sum(t.audio_s for t in transcripts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=12)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    settings = load_settings(None, environ={})
    model = find_model(settings.speech, "ko")
    names = sorted(agent.name for agent in load_acd(REPO / "ivr_flows").agents.values())
    phrases = tuple(load_quality(REPO / "ivr_flows").phrases("ko", names))
    calls = [synthetic_call(i) for i in range(args.calls)]
    jobs = [TranscriptionJob(str(path), "ko", str(model.path), None, phrases) for path in calls]
    rows = []
    results: dict[int, tuple[float, list[float], float]] = {}
    for workers in (1, 2):
        with worker_pool(workers) as pool:
            results[workers] = run(pool, jobs)
        wall, rtfs, audio_s = results[workers]
        rows.append((workers, len(jobs), audio_s, wall, audio_s / wall, statistics.median(rtfs), sorted(rtfs)[int(0.95 * (len(rtfs) - 1))]))
    free_jobs = [TranscriptionJob(job.path, job.language, job.model_path, None, ()) for job in jobs[:3]]
    with worker_pool(1) as pool:
        free_wall, free_rtfs, free_audio = run(pool, free_jobs)
    print(f"model {model.path.name}, {len(phrases)} spotted phrases, {len(jobs)} synthetic stereo calls ({rows[0][2] / len(jobs):.1f} s each on average)\n")
    print(f"{'workers':>7} {'calls':>5} {'audio s':>8} {'wall s':>7} {'audio s / wall s':>17} {'RTF p50':>8} {'RTF p95':>8}")
    for workers, count, audio_s, wall, speed, p50, p95 in rows:
        print(f"{workers:>7} {count:>5} {audio_s:>8.1f} {wall:>7.1f} {speed:>17.2f} {p50:>8.3f} {p95:>8.3f}")
    print(f"{'free-form, 1':>7} {len(free_jobs):>5} {free_audio:>8.1f} {free_wall:>7.1f} {free_audio / free_wall:>17.2f} {statistics.median(free_rtfs):>8.3f} {max(free_rtfs):>8.3f}")
    print("(free-form: transcripts.free_form = true, the whole vocabulary; what a larger model would run)")
    chaos_audio_s = CHAOS_ANSWERED * CHAOS_MEAN_TALK_S
    print(f"\nchaos test volume: about {CHAOS_ANSWERED} recorded calls, {chaos_audio_s:.0f} s of audio, within {CHAOS_WINDOW_S:.0f} s")
    backlog = {}
    for workers, *_rest in rows:
        speed = rows[workers - 1][4]
        needed = chaos_audio_s / speed
        backlog[workers] = max(0.0, needed - CHAOS_WINDOW_S)
        print(f"  {workers} worker(s): {needed:.0f} s to transcribe it: " + ("keeps up" if needed <= CHAOS_WINDOW_S else f"{backlog[workers]:.0f} s behind at the end of the burst, cleared {needed:.0f} s after it began"))
    print(f"\ntranscribe rtf_p50={rows[0][5]:.3f} rtf_p95={rows[0][6]:.3f} audio_s_per_wall_s_1w={rows[0][4]:.2f} audio_s_per_wall_s_2w={rows[1][4]:.2f} chaos_backlog_s_1w={backlog[1]:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
