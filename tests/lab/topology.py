"""The lab network: five network namespaces in a line, built and torn down by the tests.

    client ── r1 ── wire ── r2 ── server
    .1.2   .1.1  .2.1   .2.2  .3.1   .3.2        (198.18.X.Y/24, fd00:cafe:X::Y/64)

- client: where the collector runs (interface eth0).
- r1, r2: routers with kernel forwarding, so mtr sees two real hops before the server.
- wire: no addresses; a kernel bridge joins its two ports, or, for delay / jitter /
  reordering / targeted drops, the userspace bridge (tests/lab/bridge.py) does, because this
  kernel has no netem.
- server: nginx (TLS, HTTP/1.1 and HTTP/2), a slow backend and dnsmasq for origin.lab.test.

Safety: every name starts with ``cnfl-`` plus a per-lab token; every address is in
198.18.0.0/15 or fd00::/8; interfaces are created directly inside the namespaces, so nothing
is added to the host's own namespace. ``close()`` stops the processes it started (by pid),
deletes the namespaces (which deletes their veths, qdiscs and iptables rules) and removes
/etc/netns/<name>/ (the per-namespace resolv.conf that ``ip netns exec`` bind-mounts).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "cnfl-"

CLIENT_V4 = "198.18.1.2"
SERVER_V4 = "198.18.3.2"
CLIENT_V6 = "fd00:cafe:1::2"
SERVER_V6 = "fd00:cafe:3::2"
R1_V4, R2_V4 = "198.18.1.1", "198.18.2.2"  # the addresses each router answers mtr from
SERVER_NAME = "origin.lab.test"

# (namespace role, interface, IPv4/24, IPv6/64) — the links of the line, in order.
ADDRESSES = {
    ("client", "eth0"): ("198.18.1.2/24", "fd00:cafe:1::2/64"),
    ("r1", "eth0"): ("198.18.1.1/24", "fd00:cafe:1::1/64"),
    ("r1", "eth1"): ("198.18.2.1/24", "fd00:cafe:2::1/64"),
    ("r2", "eth0"): ("198.18.2.2/24", "fd00:cafe:2::2/64"),
    ("r2", "eth1"): ("198.18.3.1/24", "fd00:cafe:3::1/64"),
    ("server", "eth0"): ("198.18.3.2/24", "fd00:cafe:3::2/64"),
}
ROUTES = {
    "client": [("default", "198.18.1.1"), ("default", "fd00:cafe:1::1")],
    "r1": [("198.18.3.0/24", "198.18.2.2"), ("fd00:cafe:3::/64", "fd00:cafe:2::2")],
    "r2": [("198.18.1.0/24", "198.18.2.1"), ("fd00:cafe:1::/64", "fd00:cafe:2::1")],
    "server": [("default", "198.18.3.1"), ("default", "fd00:cafe:3::1")],
}
ROLES = ("client", "r1", "wire", "r2", "server")
WIRE_PORTS = ("w0", "w1")  # w0 faces r1 (the client's side), w1 faces r2


def run(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


@dataclass
class Lab:
    """A built lab. Use as a context manager, or call close() in a finalizer."""

    token: str
    workdir: Path
    ns: dict[str, str] = field(default_factory=dict)
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    # --- building ---------------------------------------------------------------------

    @classmethod
    def build(cls, workdir: Path) -> "Lab":
        lab = cls(token=secrets.token_hex(3), workdir=Path(workdir))
        lab.workdir.mkdir(parents=True, exist_ok=True)
        try:
            lab._build()
        except BaseException:
            lab.close()
            raise
        return lab

    def _build(self) -> None:
        for role in ROLES:
            name = f"{PREFIX}{self.token}-{role}"
            run("ip", "netns", "add", name)
            self.ns[role] = name
            self.sh(role, "ip", "link", "set", "lo", "up")
            # No router solicitations, DAD or privacy addresses: quiet, deterministic captures.
            self.sh(role, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.default.router_solicitations=0")
        for role in ("r1", "r2"):
            self.sh(role, "sysctl", "-qw", "net.ipv4.ip_forward=1",
                    "net.ipv6.conf.all.forwarding=1")
            # Routers answer every mtr probe unless a scenario says otherwise: the kernel's
            # default ICMP rate limit (1/s after a burst of 6) would show as hop loss.
            self.sh(role, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0",
                    "net.ipv6.icmp.ratelimit=0")
        # No tail loss probes on the end hosts: with the lab's 50 us RTT the probe timer is
        # its 10 ms floor, and a server that took longer to ACK (a busy 2-core CI machine)
        # made spurious retransmissions on the clean path. Real paths' RTTs keep TLP quiet.
        for role in ("client", "server"):
            self.sh(role, "sysctl", "-qw", "net.ipv4.tcp_early_retrans=0")
        self._veth("client", "eth0", "r1", "eth0")
        self._veth("r1", "eth1", "wire", "w0")
        self._veth("wire", "w1", "r2", "eth0")
        self._veth("r2", "eth1", "server", "eth0")
        for (role, dev), (v4, v6) in ADDRESSES.items():
            self.sh(role, "ip", "addr", "add", v4, "dev", dev)
            self.sh(role, "ip", "-6", "addr", "add", v6, "dev", dev, "nodad")
        for dev in WIRE_PORTS:  # the wire has no addresses, not even link-local ones
            self.sh("wire", "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
        for role, dev in [*ADDRESSES, *(("wire", d) for d in WIRE_PORTS)]:
            self.sh(role, "ip", "link", "set", dev, "up")
        for role, routes in ROUTES.items():
            for dst, via in routes:
                fam = "-6" if ":" in via else "-4"
                self.sh(role, "ip", fam, "route", "add", dst, "via", via)
        self.set_wire("kernel")
        # ip netns exec bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf, so
        # processes in the client resolve through the lab's dnsmasq only. Five attempts (the
        # most glibc takes): under the lossy scenarios' 5 % each way a lookup (A and AAAA)
        # failed both of two attempts in about one run in ten, and curl exited 6 (a flaky
        # lab); five fail together about once in 10^5 lookups.
        etc = Path("/etc/netns") / self.ns["client"]
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {SERVER_V4}\noptions timeout:1 attempts:5\n")

    def _veth(self, role_a: str, dev_a: str, role_b: str, dev_b: str) -> None:
        run("ip", "link", "add", dev_a, "netns", self.ns[role_a], "type", "veth",
            "peer", "name", dev_b, "netns", self.ns[role_b])
        # One MSS-sized segment per skb (no TSO/GSO super-frames): captures look like a real
        # NIC's, and the userspace bridge never sees a frame larger than the MTU.
        for role, dev in ((role_a, dev_a), (role_b, dev_b)):
            self.sh(role, "ip", "link", "set", dev, "gso_max_segs", "1")

    # --- the wire ---------------------------------------------------------------------

    def set_wire(self, mode: str) -> None:
        """'kernel': a Linux bridge joins w0 and w1; 'userspace': they are left unjoined for
        the userspace bridge (started with start_bridge)."""
        if mode == "kernel":
            self.sh("wire", "ip", "link", "add", "br0", "type", "bridge")
            self.sh("wire", "ip", "link", "set", "w0", "master", "br0")
            self.sh("wire", "ip", "link", "set", "w1", "master", "br0")
            self.sh("wire", "ip", "link", "set", "br0", "up")
        else:
            self.sh("wire", "ip", "link", "del", "br0", check=False)
            # Frames for other MACs must still reach the AF_PACKET sockets.
            for dev in WIRE_PORTS:
                self.sh("wire", "ip", "link", "set", dev, "promisc", "on")

    # --- running things ---------------------------------------------------------------

    def cmd(self, role: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[role], *args]

    def sh(self, role: str, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return run(*self.cmd(role, *args), check=check, **kw)

    def spawn(self, role: str, label: str, *args: str, log: Path | None = None,
              env: dict | None = None) -> subprocess.Popen:
        """Start a long-running process in a namespace; close() stops it by its pid."""
        out = open(log or os.devnull, "ab")
        proc = subprocess.Popen(self.cmd(role, *args), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        out.close()
        self.procs.append((label, proc))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 5.0) -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.procs = [(l, p) for (l, p) in self.procs if p is not proc]
        return proc.returncode

    def wait_until(self, what: str, check, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"lab: timed out waiting for {what}")
            time.sleep(0.05)

    # --- teardown ---------------------------------------------------------------------

    def close(self) -> None:
        for _label, proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception:  # keep tearing down: a namespace must not outlive the test
                pass
        self.procs.clear()
        for name in self.ns.values():
            run("ip", "netns", "del", name, check=False)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
        self.ns.clear()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def leftover_namespaces() -> list[str]:
    """Lab namespaces that still exist (for a test that checks teardown)."""
    out = run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]
