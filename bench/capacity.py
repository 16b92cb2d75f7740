"""Capacity, side by side: Threadline against Asterisk's own app_queue on the same Asterisk. Prints a table; not a test.

Both systems get the same call shape from SIPp: a caller (its number is its SIPp call number) is
answered, hears a welcome and a menu, keys 1 (RFC 2833) 5 s after the answer, waits in a queue with
music, is rung through to an agent (one SIPp UAS for all agents: rings 2 s, answers, talks TALK_S,
hangs up), is recorded while they talk, and is hung up.

(a) Threadline: the sample flow support_ko (a mock CRM knows every caller, so the flow goes from the
    welcome to the menu), key 1 -> billing queue, the ACD rings a registered agent, MixMonitor records.
    Transcripts are off (a post-call worker process, not part of holding calls); speech stays as shipped.
(b) the anchor: the context threadline-anchor in extensions.conf (Playback, Background/WaitExten,
    MixMonitor, Queue() with the same agents as static members; queues.conf written here, app_queue
    loaded here at run time with `module load`, never by the product's modules.conf). The engine is not
    running meanwhile.

Each system is ramped through levels of concurrent calls (all of a level's calls are placed within
10 s, so they overlap; there are as many agents as the largest level) until a level has a failed call;
a level is `held` if it also keeps answer p95 and key->ring p95 within their bounds. Measures: answer
time (INVITE -> 200 OK at the caller, from SIPp's message trace: see bench/sipp_traces.py), key press
-> agent's phone ringing (SIPp message traces, wall clock: the caller's 200 OK + 5 s, the agent's
INVITE with that caller's number), CPU per call (user + system time of the engine and of Asterisk over
the level, from /proc, idle included: the idle rate is printed before each level), engine peak
memory (VmHWM). cpu_ratio: (engine + Asterisk) CPU per call for Threadline over Asterisk's for the
anchor, at the largest level both held (or the first level).

Its own Asterisk instance `bench` (ports 20088/20038/20060/20090, RTP 36000-37999) and engine; cleans up.
Run as root:  .venv/bin/python bench/capacity.py [levels...]      (default: 50 100 200 300)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sipp_traces import answer_times_ms, answered_at_by_number, invited_at_by_number  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIPP_DIR = REPO / "tests" / "integration" / "sipp"
THREADLINE = str(Path(sys.executable).with_name("threadline"))
ENV = {
    "THREADLINE_LOCALPBX__CACHE_DIR": str(REPO / ".cache"),
    "THREADLINE_LOCALPBX__INSTANCE": "bench",
    "THREADLINE_ASTERISK__ARI_PORT": "20088",
    "THREADLINE_ASTERISK__AMI_PORT": "20038",
    "THREADLINE_ASTERISK__SIP_PORT": "20060",
    "THREADLINE_ASTERISK__RTP_START": "36000",
    "THREADLINE_ASTERISK__RTP_END": "37999",
    "THREADLINE_ASTERISK__EVENTS_PORT": "20090",
}
HTTP_PORT = 20080
ADMIN_TOKEN = "capacity-bench-admin-token"
AGENT_PORT, CALLER_PORT, REGISTER_PORT = 20500, 20510, 20600
"""SIPp ports (each with a media port 2 above it)."""
FIRST_EXTENSION = 7001
TALK_S = 10
KEY_AFTER_S = 5.0
"""The caller scenario keys 1 this long after its 200 OK (tests/integration/sipp/uac_menu_key.xml)."""
ANSWER_P95_BOUND_MS = 2000.0
RING_P95_BOUND_MS = 3000.0
MIN_RATE = 20
SIP_PORT = int(ENV["THREADLINE_ASTERISK__SIP_PORT"])
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Level:
    system: str
    calls: int
    successful: int = 0
    failed: int = 0
    answer_ms: list[float] = field(default_factory=list)
    key_to_ring_ms: list[float] = field(default_factory=list)
    unmatched_rings: int = 0
    engine_cpu_s: float = 0.0
    asterisk_cpu_s: float = 0.0
    engine_peak_mb: float = 0.0
    seconds: float = 0.0

    @property
    def no_failures(self) -> bool:
        return self.failed == 0 and self.successful == self.calls

    @property
    def ok(self) -> bool:
        return (self.failed == 0 and self.successful == self.calls and percentile(self.answer_ms, 95) <= ANSWER_P95_BOUND_MS
                and percentile(self.key_to_ring_ms, 95) <= RING_P95_BOUND_MS)

    def cpu_ms_per_call(self, engine: bool) -> float:
        return 1000 * (self.engine_cpu_s if engine else self.asterisk_cpu_s) / max(self.calls, 1)


def percentile(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime of the whole thread group


def peak_rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- SIPp ------------------------------------------------------------------------------------


def sipp_counter(output: str, name: str) -> int:
    lines = [line for line in output.splitlines() if line.strip().startswith(name)]
    return int(lines[-1].split("|")[-1].strip()) if lines else 0


# -- the pieces ----------------------------------------------------------------------------


class Crm(BaseHTTPRequestHandler):
    """Knows every caller, so the sample flow goes from its welcome straight to the menu."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"found": True, "name": "bench", "plan": "gold"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def bench_flows(folder: Path, agents: int) -> None:
    """A copy of the sample flows with the bench's agents (billing, Korean) and a plain billing queue."""
    shutil.copytree(REPO / "ivr_flows", folder)
    shutil.rmtree(folder / "agents")
    shutil.rmtree(folder / "queues")
    (folder / "agents").mkdir()
    (folder / "queues").mkdir()
    lines = ["agents:"]
    for n in range(agents):
        lines += [f"  bench{n:03d}:", f"    name: Bench {n}", f'    extension: "{FIRST_EXTENSION + n}"', "    skills: {billing: 3, general: 3, korean: 3}"]
    (folder / "agents" / "bench.yaml").write_text("\n".join(lines) + "\n")
    queues = ["queues:"]
    for name, skill in (("billing", "billing"), ("technical", "billing"), ("sales", "billing"), ("general", "general")):
        queues += [f"  {name}:", f"    skills: {{{skill}: 1}}", "    wrap_up_s: 0", "    ring_timeout_s: 10"]
    (folder / "queues" / "bench.yaml").write_text("\n".join(queues) + "\n")


def anchor_queues_conf(agents: int) -> str:
    # No position announcement on joining: app_queue plays it before ringing anyone (8 s here), while
    # Threadline's ACD speaks over the music without holding up the ring. Periodic announcements stay.
    lines = ["; Written by bench/capacity.py for its app_queue anchor; removed when it ends.", "[general]", "persistentmembers = no", "",
             "[threadline-anchor]", "strategy = rrmemory", "timeout = 10", "retry = 1", "wrapuptime = 0", "ringinuse = no",
             "musicclass = default", "autofill = yes", "joinempty = yes", "leavewhenempty = no", "announce-position = no",
             "periodic-announce-frequency = 20"]
    lines += [f"member => PJSIP/{FIRST_EXTENSION + n}" for n in range(agents)]
    return "\n".join(lines) + "\n"


def sipp(args: list[str], workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(["sipp", f"127.0.0.1:{SIP_PORT}", "-i", "127.0.0.1", "-nostdin", *args], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


REGISTER_PAIR = """
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]:[remote_port]>;tag=[pid]reg{ext}
      To: <sip:{ext}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Expires: 3600
      Max-Forwards: 70{auth}
      Content-Length: 0

    ]]>
  </send>
  <recv response="{expect}" {recv_auth}/>
"""


def register_agents(secrets: dict[str, str], workdir: Path) -> None:
    """Register every agent from the agents' own SIP port, before their SIPp takes it: Asterisk rewrites
    an agent's contact to where its REGISTER came from (rewrite_contact). Generated SIPp scenarios, 30
    agents each (SIPp 3.6.1 does not expand injection fields inside [authentication], so the credentials
    are literal, and it refuses scenario files much larger than that)."""
    agents = sorted(secrets.items())
    for first in range(0, len(agents), 30):
        steps = []
        for index, (ext, secret) in enumerate(agents[first:first + 30]):  # one Call-ID (SIPp matches answers by it), CSeq growing
            steps.append(REGISTER_PAIR.format(ext=ext, cseq=2 * index + 1, auth="", expect=401, recv_auth='auth="true"'))
            steps.append(REGISTER_PAIR.format(ext=ext, cseq=2 * index + 2, auth=f"\n      [authentication username={ext} password={secret}]", expect=200, recv_auth=""))
        scenario = workdir / f"register_agents_{first}.xml"
        scenario.write_text('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="register the bench agents">' + "".join(steps) + "</scenario>\n")
        process = sipp(["-sf", str(scenario), "-m", "1", "-p", str(AGENT_PORT), "-mp", str(REGISTER_PORT), "-timeout", "60s"], workdir)
        output, _ = process.communicate(timeout=90)
        if sipp_counter(output, "Successful call") != 1:
            raise SystemExit(f"agents {agents[first][0]}.. did not all register:\n{output[-2000:]}")


def run_level(system: str, calls: int, dialled: str, workdir: Path, agent_trace: Path, pbx_pid: int | None, engine_pid: int | None) -> Level:
    level = Level(system, calls)
    run_dir = workdir / f"{system}-{calls}"
    run_dir.mkdir()
    rate = max(MIN_RATE, -(-calls // 10))
    start_wall, start = time.time(), time.monotonic()
    cpu_before = cpu_seconds(engine_pid), cpu_seconds(pbx_pid)
    process = sipp(["-sf", str(SIPP_DIR / "uac_menu_key.xml"), "-s", dialled, "-m", str(calls), "-r", str(rate), "-l", str(calls),
                    "-p", str(CALLER_PORT), "-mp", str(CALLER_PORT + 2), "-timeout", "240s", "-trace_msg"], run_dir)
    output, _ = process.communicate(timeout=300)
    level.seconds = time.monotonic() - start
    time.sleep(1.0)  # the last hangups and recordings settle
    level.engine_cpu_s = cpu_seconds(engine_pid) - cpu_before[0]
    level.asterisk_cpu_s = cpu_seconds(pbx_pid) - cpu_before[1]
    level.engine_peak_mb = peak_rss_mb(engine_pid)
    level.successful, level.failed = sipp_counter(output, "Successful call"), sipp_counter(output, "Failed call")
    caller_trace = next(run_dir.glob("*_messages.log"), run_dir / "none")
    level.answer_ms = list(answer_times_ms(caller_trace).values())
    answered = answered_at_by_number(caller_trace)
    rung = invited_at_by_number(agent_trace, start_wall)
    for number, at in answered.items():
        if number in rung:
            level.key_to_ring_ms.append(1000 * (rung[number] - (at + KEY_AFTER_S)))
    level.unmatched_rings = len(answered) - len(level.key_to_ring_ms)
    (run_dir / "sipp.out").write_text(output)
    return level


def ramp(system: str, levels: list[int], dialled: str, workdir: Path, agent_trace: Path, pbx: LocalAsterisk, engine_pid: int | None) -> list[Level]:
    done = []
    for calls in levels:
        idle_before = cpu_seconds(engine_pid), cpu_seconds(pbx.pid())
        time.sleep(3.0)
        idle = [(cpu_seconds(engine_pid) - idle_before[0]) / 3.0, (cpu_seconds(pbx.pid()) - idle_before[1]) / 3.0]
        print(f"  {system:<10} idle before {calls} calls: engine {100 * idle[0]:.0f}% of a core, Asterisk {100 * idle[1]:.0f}%", flush=True)
        level = run_level(system, calls, dialled, workdir, agent_trace, pbx.pid(), engine_pid)
        done.append(level)
        print(f"  {system:<10} {calls:>4} calls: {level.successful} ok, {level.failed} failed, answer p95 {percentile(level.answer_ms, 95):.0f} ms, "
              f"key->ring p95 {percentile(level.key_to_ring_ms, 95):.0f} ms ({len(level.key_to_ring_ms)} matched), "
              f"CPU/call engine {level.cpu_ms_per_call(True):.0f} ms Asterisk {level.cpu_ms_per_call(False):.0f} ms, {level.seconds:.0f} s", flush=True)
        if not level.no_failures:
            break  # a level over the latency bounds still tells how far calls hold; a failed call ends the ramp
    return done


def wait_until(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SystemExit(f"{what} within {timeout_s:.0f} s")


def reachable_contacts(pbx: LocalAsterisk) -> int:
    lines = pbx.rx("pjsip show contacts", timeout_s=30).splitlines()
    return sum(1 for line in lines if line.strip().startswith("Contact:") and re.search(r"\sAvail\s", line))


def engine_status() -> dict[str, object]:
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{HTTP_PORT}/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(request, timeout=2) as response:
            return dict(json.load(response))
    except OSError:
        return {}


def agents_available(count: int) -> bool:
    agents = engine_status().get("agents", {})
    if not isinstance(agents, dict):
        return False
    states = [a.get("status") if isinstance(a, dict) else a for a in agents.values()]
    return bool(sum(state == "available" for state in states) >= count)


def main(levels: list[int]) -> None:
    agents = max(levels)
    settings = load_settings(None, environ=ENV)
    pbx = LocalAsterisk(settings)
    pbx.up()
    crm = ThreadingHTTPServer(("127.0.0.1", 0), Crm)  # any free port: the test slots take ports from 20000 up
    threading.Thread(target=crm.serve_forever, daemon=True).start()
    queues_conf = pbx.host_dir / "etc" / "queues.conf"
    agent_sipp: subprocess.Popen[bytes] | None = None
    engine: subprocess.Popen[bytes] | None = None
    results: dict[str, list[Level]] = {}
    with tempfile.TemporaryDirectory(prefix="threadline-capacity-") as tmp:
        workdir = Path(tmp)
        flows = workdir / "flows"
        bench_flows(flows, agents)
        env = {**os.environ, **ENV, "THREADLINE_DATABASE__URL": f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}", "THREADLINE_HTTP__PORT": str(HTTP_PORT),
               "THREADLINE_FLOWS__FOLDER": str(flows), "THREADLINE_FLOWS__INBOUND": "support_ko", "THREADLINE_LOOKUPS__CRM__URL": f"http://127.0.0.1:{crm.server_address[1]}/customers",
               "THREADLINE_ACD__SECRETS_FILE": str(workdir / "agents.json"), "THREADLINE_RECORDING__FOLDER": str(workdir / "recordings"),
               "THREADLINE_TRANSCRIPTS__ENABLED": "false", "THREADLINE_HTTP__ADMIN_TOKEN": ADMIN_TOKEN}
        try:
            provisioned = subprocess.run([THREADLINE, "agents", "provision", "--flows", str(flows)], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
            if provisioned.returncode != 0:
                raise SystemExit(f"agents provision failed: {provisioned.stderr}")
            secrets = dict(re.findall(r"^\w+: SIP user (\d+), secret (\S+)", provisioned.stdout, re.M))
            register_agents(secrets, workdir)
            agent_dir = workdir / "agents-sipp"
            agent_dir.mkdir()
            agent_sipp = subprocess.Popen(
                ["sipp", "-sf", str(SIPP_DIR / "uas_agent.xml"), "-i", "127.0.0.1", "-p", str(AGENT_PORT), "-mp", str(AGENT_PORT + 2), "-aa", "-d", str(TALK_S * 1000),
                 "-nostdin", "-trace_msg", "-max_recv_loops", "10000"], cwd=agent_dir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            time.sleep(1.0)
            agent_trace = next(agent_dir.glob("*_messages.log"), agent_dir / "uas_agent_messages.log")

            print(f"capacity bench: {agents} SIPp agents (ring 2 s, talk {TALK_S} s); levels {levels}; bounds: 0 failed, "
                  f"answer p95 <= {ANSWER_P95_BOUND_MS:.0f} ms, key->ring p95 <= {RING_P95_BOUND_MS:.0f} ms", flush=True)
            # (b) the anchor first, with no engine running; app_queue rings only members whose contact answered a qualify.
            wait_until(f"all {agents} agents' contacts reachable (qualify every 15 s)", lambda: reachable_contacts(pbx) >= agents, 90)
            queues_conf.write_text(anchor_queues_conf(agents))
            spool = f"{pbx.inside_dir}/spool/recording/anchor"
            for command in ("module load app_queue.so", "queue reload all", "dialplan set global THREADLINE_ANCHOR on",
                            "dialplan set global THREADLINE_ANCHOR_WELCOME hello-world", "dialplan set global THREADLINE_ANCHOR_MENU vm-enter-num-to-call",
                            f"dialplan set global THREADLINE_ANCHOR_SPOOL {spool}"):
                pbx.rx(command)
            results["app_queue"] = ramp("app_queue", levels, "anchor-app-queue", workdir, agent_trace, pbx, None)
            pbx.rx("dialplan set global THREADLINE_ANCHOR off")

            # (a) Threadline.
            with (workdir / "engine.log").open("wb") as log:
                engine = subprocess.Popen([THREADLINE, "run"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until(f"the engine saw {agents} agents available", lambda: agents_available(agents), 90)
            except SystemExit:
                print(f"engine /status: {json.dumps(engine_status())[:1500]}\n{(workdir / 'engine.log').read_text(errors='replace')[-3000:]}")
                raise
            results["threadline"] = ramp("threadline", levels, "1588", workdir, agent_trace, pbx, engine.pid)
            hung_up_by_engine = (workdir / "engine.log").read_text(errors="replace").count("Asterisk did not confirm it in time")
            print(f"  engine log: {hung_up_by_engine} calls given up on Asterisk; work files in {workdir} are removed now", flush=True)
        finally:
            if engine is not None and engine.poll() is None:
                engine.send_signal(signal.SIGINT)
                try:
                    engine.wait(20)
                except subprocess.TimeoutExpired:
                    engine.kill()
            if agent_sipp is not None:
                agent_sipp.kill()
                agent_sipp.wait(10)
            crm.shutdown()
            queues_conf.unlink(missing_ok=True)
            pbx.down()
    print_table(results)


def best(levels: list[Level]) -> Level | None:
    passed = [level for level in levels if level.ok]
    return passed[-1] if passed else None


def print_table(results: dict[str, list[Level]]) -> None:
    print("\none run on a shared, noisy 2-core machine; CPU is user+system seconds over the level / calls")
    print(f"held: the largest level with 0 failed calls and answer p95 <= {ANSWER_P95_BOUND_MS:.0f} ms, key->ring p95 <= {RING_P95_BOUND_MS:.0f} ms;"
          " 0 failed: the largest level with no failed call; the other columns are for the `held` level")
    print(f"{'system':<11}{'held':>6}{'0 failed':>10}{'answer p50 ms':>15}{'answer p95 ms':>15}{'key->ring p95':>15}"
          f"{'engine CPU/call':>17}{'Asterisk CPU/call':>19}{'engine peak MB':>16}")
    for system in ("threadline", "app_queue"):
        levels = results.get(system, [])
        shown = best(levels) or (levels[0] if levels else None)
        if shown is None:
            continue
        held = shown.calls if shown.ok else 0
        no_failures = max((level.calls for level in levels if level.no_failures), default=0)
        engine_cpu = f"{shown.cpu_ms_per_call(True):.0f} ms" if system == "threadline" else "-"
        memory = f"{shown.engine_peak_mb:.0f}" if system == "threadline" else "-"
        print(f"{system:<11}{held:>6}{no_failures:>10}{percentile(shown.answer_ms, 50):>15.0f}{percentile(shown.answer_ms, 95):>15.0f}"
              f"{percentile(shown.key_to_ring_ms, 95):>15.0f}{engine_cpu:>17}{shown.cpu_ms_per_call(False):>16.0f} ms{memory:>16}")
    ours, anchor = results.get("threadline", []), results.get("app_queue", [])
    common = sorted({l.calls for l in ours if l.ok} & {l.calls for l in anchor if l.ok})
    at = common[-1] if common else min((l.calls for l in ours), default=0)
    ours_at = next((l for l in ours if l.calls == at), None)
    anchor_at = next((l for l in anchor if l.calls == at), None)
    ratio = float("nan")
    if ours_at is not None and anchor_at is not None and anchor_at.asterisk_cpu_s > 0:
        ratio = (ours_at.engine_cpu_s + ours_at.asterisk_cpu_s) / anchor_at.asterisk_cpu_s
        print(f"cpu_ratio at {at} calls: (engine + Asterisk) for Threadline / Asterisk for app_queue")
    ours_best, anchor_best = best(ours), best(anchor)
    print(f"capacity threadline_calls={ours_best.calls if ours_best else 0} app_queue_calls={anchor_best.calls if anchor_best else 0} cpu_ratio={ratio:.2f}")


def parse_levels(argv: list[str]) -> list[int]:
    """Levels of concurrent calls from the command line; a bad one is named, never a traceback."""
    levels = []
    for arg in argv:
        if not arg.isdigit() or not 1 <= int(arg) <= 1000:
            sys.exit(f"bench/capacity.py: {arg!r} is not a number of concurrent calls (1-1000).\nusage: .venv/bin/python bench/capacity.py [LEVEL ...]   (default: 50 100 200 300)")
        levels.append(int(arg))
    return sorted(set(levels)) or [50, 100, 200, 300]


if __name__ == "__main__":
    main(parse_levels(sys.argv[1:]))
