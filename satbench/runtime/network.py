"""Emulated links: ``satbench run --network RATE[,DELAY]`` on one Linux machine.

Without it every worker talks to every other over the loopback of one machine, where a gigabyte costs a fraction of
a second. With it, each worker runs in a private network namespace with one link to a switch, and the links are
shaped with Linux traffic control (``tc``):

* a *hub* namespace of the run holds a bridge (the switch); each worker's namespace holds one end of a veth pair
  (``veth<rank>``, address ``10.77.x.y/16``: rank 0 is 10.77.0.1) whose other end (``port<rank>``) is a port of the
  bridge;
* every byte a worker sends leaves through its veth, whose egress is a token bucket (``tbf``) of RATE, after a
  ``netem`` delay of DELAY when one is given; every byte it receives leaves the bridge through its port, shaped to
  RATE as well. So each worker has a full-duplex link of RATE to a non-blocking switch; a message from one worker to
  another crosses the sender's uplink and the receiver's downlink, and waits DELAY once (a round trip, 2 x DELAY);
* gloo's TCP transport (``GLOO_SOCKET_IFNAME=veth<rank>``, ``MASTER_ADDR`` = rank 0's address) and the rendezvous
  store then really carry the traffic over those links, so the collectives really wait. A worker's own loopback is
  its own and carries nothing of the run (each worker is alone in its namespace).

Namespaces are named ``satbench-<pid>-<token>-hub`` and ``satbench-<pid>-<token>-w<rank>`` (the token is random), so
concurrent runs never collide; interfaces are created inside them, never in the machine's own namespace. They are
deleted when the run ends, whatever the way (success, a failed worker, SIGINT/SIGTERM: the launcher stops every
worker first, then deletes them), and a run that finds namespaces of a ``satbench run`` that no longer exists (one
killed by SIGKILL, which no clean-up survives) removes them first.

Requires root (or CAP_NET_ADMIN and CAP_SYS_ADMIN: namespaces are mounted under /run/netns) and the ``ip`` and
``tc`` tools of iproute2; a DELAY also needs the kernel's ``netem`` queueing discipline. ``satbench run`` checks the
first two before any work and says in one line what is missing. A single worker sends nothing (its collectives are
no-ops), so at W = 1 nothing is set up and the record says the link was not used.

Test hook: ``SATBENCH_NETWORK_FORCE_UNAVAILABLE=1`` makes :func:`check_available` fail as it would without
privilege or tools (for testing the refusal on a machine that has both).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError, NetworkUnavailable
from ..links import LinkSpec, parse_network  # noqa: F401  (re-exported: the parsing lives below the runtime)

log = logging.getLogger("satbench")

NETNS_DIR = Path("/run/netns")
NAME_PREFIX = "satbench-"
_NAME = re.compile(r"^satbench-(\d+)-[0-9a-f]{8}-(?:hub|w\d+)$")
SUBNET = ipaddress.ip_network("10.77.0.0/16")
FORCE_UNAVAILABLE_ENV = "SATBENCH_NETWORK_FORCE_UNAVAILABLE"
REQUIREMENT = "--network needs root or CAP_NET_ADMIN and the ip and tc tools (iproute2)"

# Each worker's uplink may send at line speed for at most this long (or BURST_MIN_BYTES) beyond its rate.
BURST_S = 1e-3
BURST_MIN_BYTES = 16 * 1024
QUEUE_S = 0.02  # a link queues 20 ms of its rate (at least 64 KiB) before it drops; TCP then backs off


# ---------------------------------------------------------------------------------------------------------------------
# Preflight: privilege and tools, checked before any work


def _effective_capabilities() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21


def missing_requirements() -> list[str]:
    """What this process lacks to emulate links (empty when nothing)."""
    if os.environ.get(FORCE_UNAVAILABLE_ENV):
        return [f"{FORCE_UNAVAILABLE_ENV} is set"]
    missing = []
    if not sys.platform.startswith("linux"):
        missing.append("network namespaces are a Linux facility")
    elif os.geteuid() != 0:
        caps = _effective_capabilities()
        if not caps >> CAP_NET_ADMIN & 1:
            missing.append("not root and no CAP_NET_ADMIN")
        elif not caps >> CAP_SYS_ADMIN & 1:
            missing.append("CAP_NET_ADMIN without CAP_SYS_ADMIN cannot create network namespaces")
    for tool in ("ip", "tc"):
        if _tool(tool) is None:
            missing.append(f"no `{tool}` on PATH")
    return missing


# --network under torchrun, refused where the command line checks it and again where torchrun's workers start
UNDER_TORCHRUN = ("--network emulates links between the workers of one machine; under torchrun the workers talk over "
                  "the cluster's real links, so leave it out")


def check_available() -> None:
    """NetworkUnavailable (one line) unless this process can create namespaces, veths and qdiscs."""
    missing = missing_requirements()
    if missing:
        raise NetworkUnavailable(f"{REQUIREMENT}: {'; '.join(missing)}")


def _tool(name: str) -> str | None:
    # iproute2 lives in /sbin or /usr/sbin, which an ordinary user's PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


# ---------------------------------------------------------------------------------------------------------------------
# The links of one run


@dataclass(frozen=True)
class WorkerLinks:
    """What a spawned worker needs to join its link (picklable: it travels to the workers)."""

    namespaces: tuple[str, ...]  # by rank
    addresses: tuple[str, ...]  # by rank

    @staticmethod
    def interface(rank: int) -> str:
        return f"veth{rank}"

    @property
    def master_addr(self) -> str:
        return self.addresses[0]

    def enter(self, rank: int) -> None:
        """Move the calling thread (call it from the worker's main thread, before the process group exists: threads
        started later inherit the namespace) into rank's namespace and point gloo at its veth."""
        with open(NETNS_DIR / self.namespaces[rank], "rb") as handle:
            _setns(handle.fileno())
        os.environ["GLOO_SOCKET_IFNAME"] = self.interface(rank)


_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, _CLONE_NEWNET)
        return
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _run(command: list[str], batch: list[str] | None = None) -> None:
    """Run an iproute2 command (``batch``: lines for its ``-batch -`` mode); NetworkUnavailable with tc's or ip's
    own message if it fails."""
    tool = _tool(command[0]) or command[0]
    if batch is not None:
        command = [*command, "-batch", "-"]
    try:
        result = subprocess.run([tool, *command[1:]], input="\n".join(batch or []) + "\n", capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise NetworkUnavailable(f"--network: cannot run {command[0]}: {error}") from None
    if result.returncode != 0:
        said = " ".join(line.strip() for line in (result.stderr or result.stdout).strip().splitlines()[:2])
        if "netem" in " ".join(batch or command) and "qdisc kind is unknown" in said:
            raise NetworkUnavailable("--network DELAY needs the kernel's netem queueing discipline (sch_netem), "
                                     "which this kernel lacks; give RATE alone (no delay)")
        raise NetworkUnavailable(f"--network: setting up the links failed: {' '.join(command)}: {said}")


def _shaping(device: str, spec: LinkSpec, delay: bool) -> list[str]:
    """tc batch lines that shape ``device``'s egress to the spec's rate (and, if ``delay``, its delay first)."""
    rate_bytes = spec.rate_bit_s / 8
    burst = max(BURST_MIN_BYTES, int(rate_bytes * BURST_S))
    limit = burst + max(64 * 1024, int(rate_bytes * QUEUE_S))
    tbf = f"tbf rate {int(spec.rate_bit_s)}bit burst {burst} limit {limit}"
    if not (delay and spec.delay is not None):
        return [f"qdisc add dev {device} root handle 1: {tbf}"]
    # netem holds the packets of one delay's worth of traffic: its queue (in packets) must cover rate x delay.
    packets = max(1000, 2 * int(rate_bytes * spec.delay_s / 1500) + 100)
    return [f"qdisc add dev {device} root handle 1: netem delay {spec.delay} limit {packets}",
            f"qdisc add dev {device} parent 1:1 handle 10: {tbf}"]


def describe(spec: LinkSpec, workers: int) -> dict:
    """The emulated link as the run record states it (``env.network``)."""
    shaped = workers > 1
    return {
        "spec": spec.text, "rate_bit_s": spec.rate_bit_s, "delay_s": spec.delay_s,
        "links": ("one full-duplex link of the rate per worker, to a bridge (veth pairs in private network "
                  "namespaces, tc tbf each way, netem delay on sending)") if shaped else
                 "none: a single worker sends nothing, so no link was set up",
        "shaped": shaped,
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def our_namespaces() -> list[str]:
    """Names of satbench's network namespaces that exist now (of any run)."""
    try:
        return sorted(entry.name for entry in NETNS_DIR.iterdir() if _NAME.match(entry.name))
    except OSError:
        return []


def _delete(names: list[str]) -> None:
    present = [name for name in names if (NETNS_DIR / name).exists()]
    if present:  # -force: go on past a name that vanished meanwhile
        with contextlib.suppress(NetworkUnavailable):
            _run(["ip", "-force"], [f"netns delete {name}" for name in present])
    left = [name for name in present if (NETNS_DIR / name).exists()]
    if left:
        log.warning("could not delete network namespaces %s; remove them with `ip netns delete NAME`",
                    ", ".join(left))


def remove_orphans() -> None:
    """Delete the namespaces of ``satbench run`` processes that no longer exist (killed by SIGKILL)."""
    orphans = [name for name in our_namespaces() if not _alive(int(_NAME.match(name).group(1)))]
    if orphans:
        log.info("removing %d network namespace(s) left by satbench runs that no longer exist", len(orphans))
        _delete(orphans)


@contextlib.contextmanager
def emulated_links(spec: LinkSpec, workers: int) -> Iterator[WorkerLinks]:
    """Create the run's hub and one shaped link per worker; yield what the workers need to join them; delete it all
    on leaving (the caller stops its workers first: a namespace outlives its deletion while a process is in it).

    Setting up and tearing down are not interrupted: SIGINT/SIGTERM wait until they have finished (then the
    interrupt is raised, and the links, if set up, are torn down on the way out)."""
    from .processes import signals_deferred

    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    hub = f"{NAME_PREFIX}{token}-hub"
    namespaces = tuple(f"{NAME_PREFIX}{token}-w{rank}" for rank in range(workers))
    if workers > SUBNET.num_addresses - 2:
        raise ConfigError(f"--network supports at most {SUBNET.num_addresses - 2} workers")
    addresses = tuple(str(SUBNET.network_address + rank + 1) for rank in range(workers))
    created = [hub, *namespaces]
    try:
        with signals_deferred():
            remove_orphans()
            _run(["ip"], [f"netns add {name}" for name in created])
            hub_lines = ["link add br0 type bridge", "link set br0 addrgenmode none", "link set br0 up"]
            for rank, namespace in enumerate(namespaces):
                port, veth = f"port{rank}", WorkerLinks.interface(rank)
                hub_lines += [f"link add {port} type veth peer name {veth} netns {namespace}",
                              f"link set {port} addrgenmode none", f"link set {port} master br0",
                              f"link set {port} up"]
            _run(["ip", "-n", hub], hub_lines)
            hub_tc = []
            for rank, namespace in enumerate(namespaces):
                veth = WorkerLinks.interface(rank)
                # addrgenmode none: no IPv6 link-local address, so gloo finds exactly one address on the veth.
                _run(["ip", "-n", namespace], ["link set lo up", f"link set {veth} addrgenmode none",
                                               f"addr add {addresses[rank]}/{SUBNET.prefixlen} dev {veth}",
                                               f"link set {veth} up"])
                _run(["tc", "-n", namespace], _shaping(veth, spec, delay=True))  # the worker's uplink
                hub_tc += _shaping(f"port{rank}", spec, delay=False)  # its downlink
            _run(["tc", "-n", hub], hub_tc)
        log.info("emulated links: %d workers, each with a %s link%s (namespaces %s*)", workers, spec.rate,
                 f" and {spec.delay} delay" if spec.delay else "", f"{NAME_PREFIX}{token}-")
        yield WorkerLinks(namespaces, addresses)
    finally:
        with signals_deferred():
            _delete(created)
