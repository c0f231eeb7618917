"""Record real captures with real tcpdump and curl on loopback, for the oracle tests.

Only 127.0.0.1 and ::1 are used: a throwaway Python HTTP server per address family,
curl downloads, tcpdump on `any` (Linux cooked v2, nanosecond time stamps) or on `lo`
(Ethernet, microseconds). Every process is stopped by its own pid.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port(family: int = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server(root: Path, host: str, port: int):
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", host,
                             "--directory", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                if s.connect_ex((host, port)) == 0:
                    break
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def tcpdump(path: Path, interface: str, bpf: str, nano: bool):
    cmd = ["tcpdump", "-i", interface, "-w", str(path), "-U", "-Z", "root", "-s", "262144"]
    if nano:
        cmd.append("--time-stamp-precision=nano")
    proc = subprocess.Popen([*cmd, bpf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        # tcpdump says "listening on ..." once the capture is really running (on `any`
        # it first names the link type).
        said = []
        for _ in range(5):
            said.append(proc.stderr.readline().strip())
            if "listening" in said[-1] or not said[-1]:
                break
        if "listening" not in said[-1]:
            raise RuntimeError(f"tcpdump did not start: {' / '.join(said)}")
        yield
        time.sleep(0.3)  # let the last packets reach the file
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def record_http(path: Path, *, interface: str, nano: bool, workdir: Path) -> Path:
    """Record curl downloads over IPv4 and IPv6 loopback; returns the capture path."""
    www = workdir / "www"
    www.mkdir(exist_ok=True)
    (www / "blob.bin").write_bytes(os.urandom(300_000))
    port4, port6 = free_port(), free_port(socket.AF_INET6, "::1")
    bpf = f"tcp port {port4} or tcp port {port6}"
    with http_server(www, "127.0.0.1", port4), http_server(www, "::1", port6):
        with tcpdump(path, interface, bpf, nano):
            for url in (f"http://127.0.0.1:{port4}/blob.bin", f"http://[::1]:{port6}/blob.bin",
                        f"http://127.0.0.1:{port4}/missing"):
                subprocess.run(["curl", "-s", "-o", os.devnull, url], check=False, timeout=30)
    return path


def record_fragments(path: Path, mtu: int = 1400) -> Path:
    """Real IPv4 and IPv6 fragments: `ping -s 4000` and 3000-byte UDP datagrams to 127.0.0.1
    and ::1 under `tcpdump -i lo`, in a private network namespace (`unshare -n`) whose
    loopback has a 1400-byte MTU, so the host's own interfaces are left alone. Needs root."""
    udp = ("import socket\n"
           "for fam, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):\n"
           "    socket.socket(fam, socket.SOCK_DGRAM).sendto(b'u' * 3000, (host, 9))\n")
    script = (f"ip link set lo up && ip link set lo mtu {mtu} || exit 3\n"
              f"tcpdump -i lo -U -w '{path}' 2>/dev/null & pid=$!\n"
              "sleep 1\n"
              "ping -c 2 -s 4000 -i 0.2 127.0.0.1 >/dev/null\n"
              "ping -6 -c 2 -s 3000 -i 0.2 ::1 >/dev/null\n"
              f"'{sys.executable}' -c \"{udp}\"\n"
              "sleep 1.5\n"  # tcpdump gets packets in blocks, up to a second late

              "kill $pid; wait $pid\n")
    subprocess.run(["unshare", "-n", "sh", "-c", script], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path
