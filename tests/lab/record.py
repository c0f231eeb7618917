"""Record lab scenarios into run bundles with the real collector.

    python -m tests.lab.record OUT_DIR [SCENARIO ...]      (root; default: the sample_data set)

Each scenario gets a fresh lab (tests/lab/topology.py), its fault, the collector run in the
client namespace, and a bundle OUT_DIR/<scenario>/ with, besides the collector's files,
sslkeylog.txt (curl's TLS keys, for Wireshark) and lab/: scenario.json (what was injected)
and injector.jsonl (the userspace wire's per-packet log) or counters.txt (iptables / tc
counters).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .scenarios import FAST_ARGS, SAMPLE_ARGS, SCENARIOS, Scenario
from .services import make_ca, start_server
from .topology import Lab

REPO = Path(__file__).resolve().parents[2]
COLLECTOR = REPO / "collector" / "cnfpost-collect"
SAMPLE_SET = ("clean", "tls_drop", "path_loss", "slow_server", "server_loss_up")


def record(scenario: Scenario, out: Path, workdir: Path, pki: dict[str, Path],
           base_args: tuple[str, ...] = FAST_ARGS,
           shell: str = "dash") -> subprocess.CompletedProcess:
    """Run one scenario into bundle directory ``out`` (must not exist). Returns the
    collector's completed process; the lab is torn down before returning. ``base_args``:
    the collector's counts (FAST_ARGS for tests, SAMPLE_ARGS for sample_data)."""
    with Lab.build(workdir / f"lab-{scenario.name}") as lab:
        start_server(lab, pki, aaaa=scenario.family == 6)
        for role, command in scenario.setup:
            lab.sh(role, *command)
        bridge = None
        injector_log = workdir / f"injector-{scenario.name}.jsonl"
        if scenario.wire is not None:
            lab.set_wire("userspace")
            config = workdir / f"wire-{scenario.name}.json"
            config.write_text(json.dumps(scenario.wire))
            script = str(Path(__file__).with_name("bridge.py"))
            bridge = lab.spawn("wire", "bridge", sys.executable, script, str(config),
                               str(injector_log), log=workdir / f"bridge-{scenario.name}.err")
            lab.wait_until("wire bridge", lambda: injector_log.exists())
        server_tcpdump = _start_server_capture(lab, workdir, scenario) \
            if scenario.server_capture else None
        family = ["-6"] if scenario.family == 6 else []
        args = [shell, str(COLLECTOR), "--out", str(out), *family,
                "--cacert", str(pki["ca"]), *base_args, *scenario.collector_args, *scenario.urls]
        # curl writes its TLS keys into the bundle (after the collector checked that the
        # directory was empty), so that Wireshark can decrypt the capture.
        env = {**os.environ, "SSLKEYLOGFILE": str(out / "sslkeylog.txt"), "LC_ALL": "C"}
        proc = run_collector(lab.cmd("client", *args), env)
        counters = [f"$ {' '.join(c)} (in {role})\n{lab.sh(role, *c, check=False).stdout}"
                    for role, c in scenario.counters]
        if bridge is not None:
            lab.stop(bridge)
        if server_tcpdump is not None:
            lab.stop(server_tcpdump)
            _store_server_capture(workdir / f"server-{scenario.name}.pcap", out,
                                  scenario.server_clock_shift_s)
    meta = out / "lab"
    meta.mkdir(exist_ok=True)
    (meta / "scenario.json").write_text(json.dumps({
        "scenario": scenario.name, "description": scenario.description, "family": scenario.family,
        "urls": list(scenario.urls), "wire": scenario.wire,
        "setup": [{"namespace": r, "command": list(c)} for r, c in scenario.setup],
        "collector": [Path(args[1]).name, *args[2:]],
        "server_capture": None if not scenario.server_capture else {
            "command": list(SERVER_TCPDUMP), "clock_shift_s": scenario.server_clock_shift_s},
    }, indent=2) + "\n")
    shutil.copy(pki["ca"], meta / "ca.pem")  # what curl verified the server with
    if injector_log.exists():
        shutil.copy(injector_log, meta / "injector.jsonl")
    if counters:
        (meta / "counters.txt").write_text("\n".join(counters))
    return proc


# The collector's --help line for server.pcap (in the server namespace, its eth0).
SERVER_TCPDUMP = ("tcpdump", "-i", "eth0", "-n", "-s", "200", "-U", "-w", "{file}",
                  "tcp port 443 or tcp port 80")


def _start_server_capture(lab: Lab, workdir: Path, scenario: Scenario):
    raw = workdir / f"server-{scenario.name}.pcap"
    log = workdir / f"server-tcpdump-{scenario.name}.err"
    command = [a.replace("{file}", str(raw)) for a in SERVER_TCPDUMP]
    proc = lab.spawn("server", "server tcpdump", *command, log=log)
    lab.wait_until("server tcpdump", lambda: log.exists() and "listening on" in log.read_text())
    return proc


def _store_server_capture(raw: Path, out: Path, shift_s: float) -> None:
    """server.pcap into the bundle, its clock shifted (editcap -t) as the scenario says."""
    target = out / "server.pcap"
    if shift_s:
        subprocess.run(["editcap", "-F", "pcap", "-t", str(shift_s), str(raw), str(target)],
                       check=True, capture_output=True)
    else:
        shutil.copy(raw, target)


def run_collector(command: list[str], env: dict,
                  timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the collector; past the timeout, SIGTERM first so that its trap stops tcpdump
    (SIGKILL would orphan tcpdump inside the namespace)."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.communicate(timeout=30)
            finally:
                proc.kill()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("scenarios", nargs="*", default=list(SAMPLE_SET),
                        help=f"any of: {', '.join(SCENARIOS)}")
    parser.add_argument("--fast", action="store_true",
                        help="the tests' short runs (3 samples, 10 pings) instead of sample_data's")
    opts = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    unknown = [s for s in opts.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    opts.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cnfl-record-") as tmp:
        work = Path(tmp)
        pki = make_ca(work / "pki")
        for name in opts.scenarios:
            out = opts.out / name
            if out.exists():
                shutil.rmtree(out)
            proc = record(SCENARIOS[name], out, work, pki, FAST_ARGS if opts.fast else SAMPLE_ARGS)
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            print(f"{name}: exit {proc.returncode}, {size} bytes in {out}")
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
