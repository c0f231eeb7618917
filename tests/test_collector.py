"""collector/cnfpost-collect: lint, and behaviour against fake tools on a bare PATH.

The fakes (tcpdump, ping, mtr, curl as small sh scripts) let these tests run without root
or network: PATH holds only the fakes and the basic utilities the collector uses, so a
tool left out is really missing. The real tools are exercised by tests/test_lab.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnfpost.inputs.bundle import collect_script_path, read_bundle
from tests.support import require_root, require_tool

COLLECTOR = Path(__file__).resolve().parents[1] / "collector" / "cnfpost-collect"
# What the collector calls besides the probe tools (POSIX utilities; BusyBox has them all).
UTILITIES = ("sed", "awk", "tr", "date", "od", "wc", "grep", "cat", "mkdir", "rm", "sleep",
             "ls", "head", "tail", "cut", "mv", "uname", "hostname", "readlink", "basename",
             "id", "chown")

FAKE_TCPDUMP = r"""#!/bin/sh
[ "$1" = --version ] && { echo "tcpdump version 0.0-fake"; echo "libpcap version 0.0-fake"; exit 0; }
echo "$$" > "$FAKE_DIR/tcpdump.pid"
echo "$*" > "$FAKE_DIR/tcpdump.args"
if [ -n "${FAKE_TCPDUMP_FAIL:-}" ]; then
    echo "tcpdump: eth9: You don't have permission to capture on that device" >&2; exit 1
fi
out=""
while [ $# -gt 0 ]; do [ "$1" = -w ] && out=$2; shift; done
printf '\324\303\262\241\002\000\004\000\000\000\000\000\000\000\000\000\000\000\004\000\001\000\000\000' > "$out"
echo "tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes" >&2
trap 'printf "5 packets captured\n7 packets received by filter\n2 packets dropped by kernel\n" >&2; echo stopped > "$FAKE_DIR/tcpdump.stopped"; exit 0' INT TERM
while :; do sleep 0.05; done
"""
FAKE_PING = r"""#!/bin/sh
[ "$1" = -V ] && { echo "ping from iputils 0-fake"; exit 0; }
echo "$*" >> "$FAKE_DIR/ping.args"
if [ -n "${FAKE_PING_SLEEP:-}" ]; then  # a long ping; stopped, it takes its sleep along
    sleep "$FAKE_PING_SLEEP" & trap 'kill $! 2>/dev/null; exit 143' TERM; wait $!
fi
if [ -n "${FAKE_PING_UNTIL_STOPPED:-}" ]; then  # until the capture is stopped (30 s at most)
    i=0
    while [ ! -e "$FAKE_DIR/tcpdump.stopped" ] && [ "$i" -lt 600 ]; do
        sleep 0.05; i=$((i + 1))
    done
fi
echo "PING origin.lab.test (198.18.3.2) 56(84) bytes of data."
echo "64 bytes from origin.lab.test (198.18.3.2): icmp_seq=1 ttl=62 time=0.164 ms"
echo ""
echo "--- origin.lab.test ping statistics ---"
echo "1 packets transmitted, 1 received, 0% packet loss, time 0ms"
exit "${FAKE_PING_EXIT:-0}"
"""
FAKE_MTR = r"""#!/bin/sh
[ "$1" = --version ] && { echo "mtr 0.0-fake"; exit 0; }
echo "$*" >> "$FAKE_DIR/mtr.args"
echo '{"report": {"mtr": {"dst": "origin.lab.test", "tests": 1}, "hubs": []}}'
"""
# Exits with the code in line N of $FAKE_CURL_EXITS for its N-th call (default 0).
FAKE_CURL = r"""#!/bin/sh
[ "$1" = --version ] && { echo "curl 0.0-fake"; exit 0; }
n=$(( $(cat "$FAKE_DIR/curl.count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$FAKE_DIR/curl.count"
echo "$*" >> "$FAKE_DIR/curl.args"
rc=$(sed -n "${n}p" "${FAKE_CURL_EXITS:-/dev/null}")
rc=${rc:-0}
printf '{"exitcode":%s,"local_port":%s,"time_total":0.001}\n' "$rc" "$((40000 + n))"
exit "$rc"
"""
FAKES = {"tcpdump": FAKE_TCPDUMP, "ping": FAKE_PING, "mtr": FAKE_MTR, "curl": FAKE_CURL}
URL = "https://origin.lab.test/100k.bin"


@pytest.fixture(params=["dash", "busybox"])
def fake_env(request, tmp_path):
    """A bin directory with the utilities and the fakes, and the environment to use it.

    Twice: dash with the GNU utilities (Debian), and BusyBox ash with BusyBox's own applets
    (the small probes), so both the shell and the utilities' dialects are exercised.
    """
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if request.param == "dash":
        shell = [require_tool("dash")]
        for name in UTILITIES:
            real = shutil.which(name)
            assert real, f"{name} is needed by the collector"
            (bindir / name).symlink_to(real)
    else:
        busybox = require_tool("busybox")      # .ci/run installs it: a failure in CI
        shell = [busybox, "sh"]
        for name in UTILITIES:
            (bindir / name).symlink_to(busybox)  # BusyBox picks the applet from argv[0]
    fakes = tmp_path / "fake"
    fakes.mkdir()
    env = {"PATH": str(bindir), "FAKE_DIR": str(fakes), "LC_ALL": "C", "SHELL_CMD": "|".join(shell)}
    return bindir, fakes, env


def shell_cmd(env: dict) -> list[str]:
    return env["SHELL_CMD"].split("|")


def install(bindir: Path, *names: str) -> None:
    for name in names:
        path = bindir / name
        path.write_text(FAKES[name])
        path.chmod(0o755)


def collect(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*shell_cmd(env), str(COLLECTOR), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def fast(out: Path) -> list[str]:
    return ["--out", str(out), "--interface", "eth0", "--linger", "0", "--sample-gap", "0",
            "--samples", "3"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes; the collector's shell reaps it or exits.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


# --- lint ------------------------------------------------------------------------------

def test_shellcheck_clean():
    shellcheck = require_tool("shellcheck")
    proc = subprocess.run([shellcheck, "-s", "sh", str(COLLECTOR)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_dash_parses_it():
    dash = require_tool("dash")
    proc = subprocess.run([dash, "-n", str(COLLECTOR)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_shipped_and_executable():
    path = collect_script_path()
    assert path.read_bytes() == COLLECTOR.read_bytes()
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/bin/sh\n")


# --- arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ((), "give at least one target URL"),
    (("--samples", "three", URL), "--samples must be a whole number, got 'three'"),
    (("--samples", "", URL), "--samples must be a whole number, got ''"),
    (("--ping-interval", "0.2s", URL), "--ping-interval must be a number of seconds, got '0.2s'"),
    (("--mtr-port", "80", URL), "--mtr-port needs --mtr-tcp"),
    (("--bogus", URL), "unknown option: --bogus"),
    (("--out",), "option --out needs a value"),
])
def test_bad_arguments_exit_2_with_one_message(fake_env, args, message):
    _, _, env = fake_env
    proc = collect(env, *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_refuses_a_non_empty_output_directory(fake_env, tmp_path):
    _, _, env = fake_env
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    proc = collect(env, "--out", str(out), URL)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_help_and_version(fake_env):
    _, _, env = fake_env
    assert "--loaded-url" in collect(env, "--help").stdout
    assert collect(env, "--version").stdout.startswith("cnfpost-collect ")


def test_help_says_how_to_record_the_server_side(fake_env):
    """The one-line tcpdump for server.pcap: a file name the bundle reader looks for."""
    from cnfpost.inputs.registry import KIND

    _, _, env = fake_env
    text = collect(env, "--help").stdout
    line = next(ln.strip() for ln in text.splitlines() if ln.strip().startswith("tcpdump "))
    assert "-w server.pcap" in line and " -U " in line and "'tcp port 443" in line
    assert "server.pcap" in KIND["server_capture"].files and "--server-capture" in text


# --- behaviour -------------------------------------------------------------------------

def test_every_tool_missing_still_writes_a_manifest(fake_env, tmp_path):
    _, _, env = fake_env
    out = tmp_path / "run"
    proc = collect(env, *fast(out), URL)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    notes = " | ".join(manifest["notes"])
    for tool in ("tcpdump", "ping", "mtr", "curl"):
        assert f"{tool} not found" in notes
    assert manifest["exit_codes"] == {"tcpdump": None, "ping": None, "mtr": None, "mtr_raw": None,
                                      "curl": [], "load": None, "ping_loaded": None}
    assert manifest["capture"]["file"] is None
    assert (manifest["interface_mac"], manifest["interface_mtu"]) == (None, None)
    assert manifest["tools"]["curl"] is None
    assert sorted(manifest["files"]) == ["collector.log"]
    assert sorted(p.name for p in out.iterdir()) == ["collector.log", "manifest.json"]


def test_full_run_with_fake_tools(fake_env, tmp_path):
    bindir, fakes, env = fake_env
    install(bindir, "tcpdump", "ping", "mtr", "curl")
    out = tmp_path / "run"
    proc = collect(env, *fast(out), "--max-packets", "500", "--ping-count", "3",
                   "--mtr-cycles", "2", "--mtr-tcp", "--mtr-port", "8443", URL,
                   "http://[fd00:cafe:3::2]:8080/x")
    assert proc.returncode == 0, proc.stderr
    bundle = read_bundle(out)
    assert bundle.problems == ()
    m = bundle.manifest
    assert m["bundle_format"] == "cnfpost-bundle/1"
    # tcpdump's closing counters, read after it was stopped, and the drop noted.
    assert bundle.capture_counters == {"packets_captured": 5, "packets_received_by_filter": 7,
                                       "packets_dropped_by_kernel": 2}
    assert any("2 packets dropped by kernel" in n for n in m["notes"])
    assert (fakes / "tcpdump.stopped").exists()
    assert not alive(int((fakes / "tcpdump.pid").read_text()))
    assert m["capture"]["link_type"] == "EN10MB" and m["capture"]["link_type_desc"] == "Ethernet"
    assert m["capture"]["pcap_magic"] == "d4c3b2a1" and m["capture"]["timestamp_precision"] == "micro"
    assert "-c 500" in (fakes / "tcpdump.args").read_text()
    # Target = host of the first URL; mtr in TCP mode on the asked port.
    assert m["target"] == "origin.lab.test"
    assert (fakes / "mtr.args").read_text().split() == [
        "-n", "-c", "2", "-i", "1", "-G", "5", "--tcp", "--port", "8443", "--json", "origin.lab.test"]
    # -n: no reverse lookup per reply (DNS traffic, a slow resolver, port-unreachables).
    assert (fakes / "ping.args").read_text().split() == ["-n", "-c", "3", "-i", "0.2",
                                                         "origin.lab.test"]
    # 3 samples x 2 URLs, in order, one wall-clock line per curl run.
    timings = [json.loads(line) for line in (out / "timings.jsonl").read_text().splitlines()]
    clocks = [json.loads(line) for line in (out / "timings_wallclock.jsonl").read_text().splitlines()]
    assert [t["local_port"] for t in timings] == [40001 + i for i in range(6)]
    assert [c["sample"] for c in clocks] == [1, 2, 3, 4, 5, 6]
    assert [c["url"] for c in clocks] == [URL, "http://[fd00:cafe:3::2]:8080/x"] * 3
    assert all(c["wall_start"] <= c["wall_end"] for c in clocks)
    assert m["exit_codes"]["curl"] == [0] * 6 and m["exit_codes"]["tcpdump"] == 0
    assert m["urls"] == [URL, "http://[fd00:cafe:3::2]:8080/x"]
    assert m["start_wall"] <= clocks[0]["wall_start"] and clocks[-1]["wall_end"] <= m["end_wall"]
    assert m["tools"]["tcpdump"] == "tcpdump version 0.0-fake"
    assert m["tools"]["libpcap"] == "libpcap version 0.0-fake"
    assert m["commands"]["mtr"].startswith("mtr -n -c 2")
    assert ".collect" not in {p.name for p in out.iterdir()}


def test_failed_steps_do_not_stop_the_run(fake_env, tmp_path):
    bindir, fakes, env = fake_env
    install(bindir, "tcpdump", "ping", "mtr", "curl")
    exits = tmp_path / "curl_exits"
    exits.write_text("0\n7\n0\n")
    env = {**env, "FAKE_CURL_EXITS": str(exits), "FAKE_PING_EXIT": "1"}
    out = tmp_path / "run"
    proc = collect(env, *fast(out), URL)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["exit_codes"]["ping"] == 1 and m["exit_codes"]["mtr"] == 0
    assert m["exit_codes"]["curl"] == [0, 7, 0]
    clocks = [json.loads(line) for line in (out / "timings_wallclock.jsonl").read_text().splitlines()]
    assert [c["curl_exit"] for c in clocks] == [0, 7, 0]
    assert "curl sample 2 exited 7" in m["notes"] and "ping exited 1 (ping.txt)" in m["notes"]


def test_tcpdump_that_cannot_capture_is_noted(fake_env, tmp_path):
    bindir, _, env = fake_env
    install(bindir, "tcpdump", "ping", "mtr", "curl")
    out = tmp_path / "run"
    proc = collect({**env, "FAKE_TCPDUMP_FAIL": "1"}, *fast(out), URL)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert any(n.startswith("tcpdump did not start capturing") and "permission" in n for n in m["notes"])
    assert m["exit_codes"]["tcpdump"] == 1
    assert m["capture"]["stopped_by"] == "tcpdump_exit"
    assert m["exit_codes"]["curl"] == [0, 0, 0]


@pytest.mark.parametrize("sig, code, name", [(signal.SIGTERM, 143, "SIGTERM"),
                                             (signal.SIGINT, 130, "SIGINT")])
def test_signal_stops_tcpdump_and_keeps_a_manifest(fake_env, tmp_path, sig, code, name):
    bindir, fakes, env = fake_env
    install(bindir, "tcpdump", "ping", "mtr", "curl")
    out = tmp_path / "run"
    proc = subprocess.Popen([*shell_cmd(env), str(COLLECTOR), *fast(out), URL],
                            env={**env, "FAKE_PING_SLEEP": "30"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (fakes / "ping.args").exists():  # the run is inside ping now
            assert time.monotonic() < deadline, "collector never reached ping"
            time.sleep(0.05)
        # As a terminal or a supervisor would: the whole process group gets the signal.
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)  # a hang guard: the manifest takes ~100 forks on a busy box
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code
    assert not alive(int((fakes / "tcpdump.pid").read_text()))
    m = json.loads((out / "manifest.json").read_text())
    assert m["interrupted"] == name
    assert m["capture"]["packets_captured"] == 5
    assert not (fakes / "curl.count").exists()  # no step ran after the signal


def test_strings_are_escaped_in_the_manifest(fake_env, tmp_path):
    bindir, _, env = fake_env
    install(bindir, "curl")
    out = tmp_path / "run"
    odd = 'https://origin.lab.test/a"b\\c\td?q=1'
    proc = collect(env, *fast(out), "--samples", "1", "--target", "origin.lab.test",
                   "--curl-opt", "-H", "--curl-opt", "X-Note: it's \"quoted\"", odd)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["urls"] == [odd]
    clock = json.loads((out / "timings_wallclock.jsonl").read_text())
    assert clock["url"] == odd
    # The recorded command can be pasted back into a shell: the header survives quoting.
    assert "'X-Note: it'\\''s \"quoted\"'" in m["commands"]["curl"]


def test_byte_limit_stops_the_capture_early(fake_env, tmp_path):
    bindir, fakes, env = fake_env
    install(bindir, "tcpdump", "ping", "mtr", "curl")
    out = tmp_path / "run"
    # The fake writes a 24-byte header at once; ping then runs until tcpdump is stopped, so
    # only the watchdog, seeing the limit passed, can end it (however slow the machine).
    proc = collect({**env, "FAKE_PING_UNTIL_STOPPED": "1"}, *fast(out), "--max-bytes", "10",
                   URL)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["capture"]["stopped_by"] == "max_bytes"
    assert m["capture"]["limits"] == {"packets": None, "bytes": 10, "seconds": None}
    assert (fakes / "tcpdump.stopped").exists()
    assert m["exit_codes"]["curl"] == [0, 0, 0]  # the run carried on without a capture


def test_time_limit_stops_the_capture_early(fake_env, tmp_path):
    bindir, fakes, env = fake_env
    install(bindir, "tcpdump", "ping", "mtr", "curl")
    out = tmp_path / "run"
    # ping runs until tcpdump is stopped: no sleep racing the watchdog's one-second clock
    proc = collect({**env, "FAKE_PING_UNTIL_STOPPED": "1"}, *fast(out), "--max-seconds", "1",
                   URL)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["capture"]["stopped_by"] == "max_seconds"
    assert m["capture"]["limits"]["seconds"] == 1
    assert (fakes / "tcpdump.stopped").exists()



# tcpdump as it really behaves: it sets its own SIGINT handler even when started with SIGINT
# ignored (sh cannot trap a signal ignored on entry, so the sh fake above cannot show this),
# and run as root it gives its file to its -Z user.
FAKE_TCPDUMP_PY = r"""#!{python}
import os, signal, sys, time
d = os.environ["FAKE_DIR"]
open(d + "/tcpdump.pid", "w").write(str(os.getpid()))
open(d + "/tcpdump.args", "w").write(" ".join(sys.argv[1:]))
out = sys.argv[sys.argv.index("-w") + 1]
open(out, "wb").write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
if os.environ.get("FAKE_TCPDUMP_CHOWN"):
    os.chown(out, 65534, 65534)  # nobody, as tcpdump -Z tcpdump leaves it
sys.stderr.write("tcpdump: listening on eth0, link-type EN10MB (Ethernet), "
                 "snapshot length 262144 bytes\n")
sys.stderr.flush()
def stop(*_):
    sys.stderr.write("3 packets captured\n3 packets received by filter\n"
                     "0 packets dropped by kernel\n")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.05)
"""


def install_real_tcpdump(bindir: Path) -> None:
    path = bindir / "tcpdump"
    path.write_text(FAKE_TCPDUMP_PY.replace("{python}", sys.executable))
    path.chmod(0o755)


def test_sigint_reaching_only_tcpdump_is_noted(fake_env, tmp_path):
    """Started with SIGINT ignored (a script's &, nohup), the collector cannot trap Ctrl-C
    but tcpdump does: the run goes on without a capture, and the manifest must say so."""
    bindir, fakes, env = fake_env
    install(bindir, "ping", "mtr", "curl")
    install_real_tcpdump(bindir)
    out = tmp_path / "run"
    proc = subprocess.Popen([*shell_cmd(env), str(COLLECTOR), *fast(out), URL],
                            env={**env, "FAKE_PING_SLEEP": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 20
        while not (fakes / "ping.args").exists():
            assert time.monotonic() < deadline, "collector never reached ping"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0  # the collector did not see the signal: the run went on
    m = json.loads((out / "manifest.json").read_text())
    assert m["capture"]["stopped_by"] == "tcpdump_exit" and m["interrupted"] is None
    early = [n for n in m["notes"] if n.startswith("tcpdump exited early")]
    assert early == ["tcpdump exited early (exit 0, gone by the end of ping): later packets are "
                     "not in the capture (a SIGINT that reached only tcpdump? a collector "
                     "started with & or nohup ignores it)"]
    assert (fakes / "curl.count").read_text().strip() == "3"


def test_a_normal_run_has_no_early_exit_note(fake_env, tmp_path):
    bindir, _, env = fake_env
    install(bindir, "ping", "mtr", "curl")
    install_real_tcpdump(bindir)
    out = tmp_path / "run"
    proc = collect(env, *fast(out), URL)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["capture"]["stopped_by"] == "collector"
    assert not [n for n in m["notes"] if "exited early" in n]


def test_capture_keeps_the_invoking_users_ownership(fake_env, tmp_path):
    require_root()
    bindir, _, env = fake_env
    install(bindir, "ping", "mtr", "curl")
    install_real_tcpdump(bindir)
    out = tmp_path / "run"
    proc = collect({**env, "FAKE_TCPDUMP_CHOWN": "1"}, *fast(out), URL)
    assert proc.returncode == 0, proc.stderr
    st = (out / "capture.pcap").stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert (st.st_uid, st.st_gid) == ((out / "manifest.json").stat().st_uid,
                                      (out / "manifest.json").stat().st_gid)
