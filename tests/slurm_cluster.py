"""A real single-node SLURM cluster on this machine, for tests: munged, slurmctld, slurmd on loopback.

Debian's ``slurm-wlm`` and ``munge`` (installed with apt-get when missing). Everything the
daemons write lives in one private directory (munge key and socket, slurm state, spool and
logs, on free ports), except ``/etc/slurm/slurm.conf``: the executor plugin's job step strips
every ``SLURM_*`` variable, ``SLURM_CONF`` included, before its ``srun``, so the commands inside
a job only find the configuration at its default path. That file is written with a marker
line, refused if another one is already there, and removed on stop.

Configuration as recorded in ../shared/SLURM-NOTES.md: root as SlurmUser, no cgroups
(proctrack/linuxproc, task/none), no accounting (so ``sacct`` is unavailable: use the plugin's
``--slurm-status-command squeue``) and ``MinJobAge=3600`` so finished jobs stay visible to
squeue. ``SlurmdParameters=config_overrides`` lets the node advertise more CPUs and memory than
the machine has (nothing is enforced without cgroups), so the project's profile can be
submitted with its real per-rule requests.

    with LocalSlurm(tmp_dir) as cluster:
        subprocess.run(["sbatch", "--wrap", "hostname"], env=cluster.env())
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
MARKER = "# written by minilm-repro tests/slurm_cluster.py"
PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")


class SlurmUnavailable(RuntimeError):
    """This machine cannot host the test cluster; the message says why (a skip reason)."""


def unavailable_reason() -> str | None:
    """Why a local SLURM cannot be started here, or None when it can be tried."""
    if platform.system() != "Linux":
        return f"needs Linux, this is {platform.system()}"
    if os.geteuid() != 0:
        return "needs root (installs packages, runs munged as the munge user and slurmd as root)"
    if not all(shutil.which(d, path="/usr/sbin:/usr/bin") for d in DAEMONS) and not shutil.which("apt-get"):
        return "slurm-wlm and munge are not installed and there is no apt-get to install them"
    if SYSTEM_CONF.exists() and MARKER not in SYSTEM_CONF.read_text(errors="replace"):
        return f"{SYSTEM_CONF} exists and was not written by this harness: a real SLURM is configured here"
    return None


def install() -> None:
    """apt-get install slurm-wlm munge when a daemon is missing (apt-get update first if needed).

    The packages' maintainer scripts would start munged (and try slurmd/slurmctld) as system
    services, daemons this harness did not start and could not stop by PID: while installing, a
    temporary ``/usr/sbin/policy-rc.d`` answering 101 (Debian's "action forbidden" policy,
    honoured by invoke-rc.d and deb-systemd-invoke) keeps them from starting. An existing policy
    file is left as it is.
    """
    if all(shutil.which(d, path="/usr/sbin:/usr/bin") for d in DAEMONS):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    policy_written = not POLICY_RC_D.exists()
    if policy_written:
        POLICY_RC_D.write_text(f"#!/bin/sh\n{MARKER}\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if res.returncode != 0:
            upd = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
            if res.returncode != 0:
                raise SlurmUnavailable(
                    f"`{' '.join(cmd)}` failed (after apt-get update, exit {upd.returncode}): {res.stderr[-800:]}")
    finally:
        if policy_written and MARKER in POLICY_RC_D.read_text(errors="replace"):
            POLICY_RC_D.unlink()
    missing = [d for d in DAEMONS if not shutil.which(d, path="/usr/sbin:/usr/bin")]
    if missing:
        raise SlurmUnavailable(f"installed {PACKAGES} but {missing} are still not on /usr/sbin:/usr/bin")


def _free_ports(k: int) -> list[int]:
    """k distinct TCP ports that were free a moment ago (bound together, then released)."""
    socks = [socket.socket() for _ in range(k)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class LocalSlurm:
    """``nodes`` nodes in one partition, all on this machine; ``start()`` returns when they are idle.

    One node is named ``localhost``. Several are ``node1``, ``node2``, ...: one slurmd each, on
    its own port and spool directory, all at 127.0.0.1, so a job of several nodes (``sbatch
    --nodes=2``) runs its srun tasks here as if on separate machines.
    cpus / memory_mb: what each node advertises (not enforced: no cgroups).
    """

    def __init__(self, partition: str = "debug", cpus: int = 64, memory_mb: int = 512_000, nodes: int = 1):
        self.partition, self.cpus, self.memory_mb = partition, cpus, memory_mb
        self.nodes = ["localhost"] if nodes == 1 else [f"node{i + 1}" for i in range(nodes)]
        # munged checks that every directory above its socket is world-executable: not pytest's tmp
        self.root = Path(tempfile.mkdtemp(prefix="minilm-slurm-"))
        self.root.chmod(0o755)
        self.conf = self.root / "slurm" / "slurm.conf"
        self.munge_socket = self.root / "munge" / "run" / "munge.socket"
        self._procs: dict[str, subprocess.Popen] = {}
        self._wrote_system_conf = False
        self.leftovers: list[str] = []  # what stop() had to kill beyond its own daemons ("pid name")

    # ---- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> "LocalSlurm":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        reason = unavailable_reason()
        if reason:
            raise SlurmUnavailable(reason)
        install()
        self._start_munge()
        self._write_config()
        self._spawn("slurmctld", ["/usr/sbin/slurmctld", "-D", "-f", str(self.conf)])
        self._wait(lambda: self._run(["scontrol", "ping"], check=False).returncode == 0, timeout, "slurmctld to answer")
        for node in self.nodes:
            self._spawn(f"slurmd-{node}", ["/usr/sbin/slurmd", "-D", "-N", node, "-f", str(self.conf)])
        self._wait(lambda: self.node_states() == ["idle"] * len(self.nodes), timeout, "the nodes to be idle")

    def stop(self) -> None:
        """Cancel every job and wait for its processes, stop the daemons started here (by PID),
        kill by PID whatever of this cluster is still alive (listed in ``leftovers``), remove the
        system config and the private directory."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            self._run(["scancel", "--partition", self.partition], check=False)
            # squeue drops a cancelled job before slurmd has killed its processes: watch those
            self._wait(lambda: not self.job_processes(), 30, "the processes of cancelled jobs to end", fail=False)
        for name in [*(f"slurmd-{n}" for n in self.nodes), "slurmctld", "munged"]:
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for pid, name in self.job_processes(daemons=True).items():
            self.leftovers.append(f"{pid} {name}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._wrote_system_conf and SYSTEM_CONF.exists() and MARKER in SYSTEM_CONF.read_text(errors="replace"):
            SYSTEM_CONF.unlink()
        self._wrote_system_conf = False
        shutil.rmtree(self.root, ignore_errors=True)

    def job_processes(self, daemons: bool = False) -> dict[int, str]:
        """{pid: name} of the live processes of this cluster's jobs (their slurmstepd and everything
        the jobs started), and with ``daemons`` also munged, slurmctld and slurmd. Every one of them
        inherited ``SLURM_CONF=<this cluster's config>`` from a daemon or a client started here;
        the jobs' own processes also carry ``SLURM_JOB_ID``."""
        conf = f"SLURM_CONF={self.conf}".encode()
        found = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":  # exited, not reaped yet
                    continue
                name = (proc / "comm").read_text().strip()
                env = (proc / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError):  # ended meanwhile
                continue
            if conf not in env:
                continue
            in_job = name == "slurmstepd" or any(e.startswith(b"SLURM_JOB_ID=") for e in env)
            if in_job or (daemons and name in DAEMONS):
                found[int(proc.name)] = name
        return found

    # ---- queries -------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for SLURM clients (sbatch, squeue, snakemake) talking to this cluster."""
        return dict(os.environ, SLURM_CONF=str(self.conf), **extra)

    def node_states(self) -> list[str]:
        res = self._run(["sinfo", "-h", "-N", "-o", "%T"], check=False)
        return [line.strip().rstrip("*~#") for line in res.stdout.splitlines()] if res.returncode == 0 else []

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still knows (MinJobAge=3600): id, name, comment, state, time limit."""
        fields = ("id", "name", "comment", "state", "time_limit")
        out = self._run(["squeue", "-h", "--states=all", "-o", "%i|%j|%k|%T|%l"]).stdout
        return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]

    def scancel(self, job_id: str) -> None:
        self._run(["scancel", job_id])

    def controller_log(self) -> str:
        return (self.root / "slurm" / "log" / "slurmctld.log").read_text(errors="replace")

    def slurmd_log(self, node: str) -> str:
        return (self.root / "slurm" / "log" / f"slurmd.{node}.log").read_text(errors="replace")

    # ---- internals ---------------------------------------------------------------------------------

    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=60)
        if check and res.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def _active_job_ids(self) -> list[str]:
        res = self._run(["squeue", "-h", "-o", "%i"], check=False)
        return res.stdout.split() if res.returncode == 0 else []

    def _spawn(self, name: str, cmd: list[str], **kw) -> None:
        log = open(self.root / f"{name}.out", "w")
        self._procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                             start_new_session=True, **kw)
        log.close()

    def _wait(self, ok, timeout: float, what: str, fail: bool = True) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None and fail:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) while waiting for {what}:\n"
                                       f"{(self.root / f'{name}.out').read_text()[-2000:]}")
            if ok():
                return
            time.sleep(0.5)
        if fail:
            logs = "\n".join(f"== {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.root.glob("*.out")))
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")

    def _start_munge(self) -> None:
        import pwd

        munge = pwd.getpwnam("munge")
        base = self.root / "munge"
        for sub, mode in (("run", 0o755), ("etc", 0o700), ("lib", 0o700)):
            (base / sub).mkdir(parents=True, exist_ok=True)
            (base / sub).chmod(mode)
        base.chmod(0o755)
        key = base / "etc" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for p in [base, *base.rglob("*")]:
            os.chown(p, munge.pw_uid, munge.pw_gid)
        self._spawn("munged", [
            "/usr/sbin/munged", "--foreground", f"--socket={self.munge_socket}", f"--key-file={key}",
            f"--log-file={base / 'lib' / 'munged.log'}", f"--pid-file={base / 'run' / 'munged.pid'}",
            f"--seed-file={base / 'lib' / 'munged.seed'}",
        ], user=munge.pw_uid, group=munge.pw_gid)
        self._wait(self.munge_socket.exists, 20, "munged's socket")

    def _node_lines(self) -> list[str]:
        size = f"CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN"
        if self.nodes == ["localhost"]:
            return [f"NodeName=localhost NodeAddr=127.0.0.1 {size}"]
        return [f"NodeName={n} NodeHostname=localhost NodeAddr=127.0.0.1 Port={port} {size}"
                for n, port in zip(self.nodes, self._ports[2:])]

    def _write_config(self) -> None:
        slurm = self.root / "slurm"
        for sub in ("state", "spool", "log"):
            (slurm / sub).mkdir(parents=True, exist_ok=True)
        self._ports = _free_ports(2 + len(self.nodes))  # slurmctld, slurmd (one node), each node's slurmd
        text = "\n".join([
            MARKER,
            "ClusterName=minilmtest",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={self._ports[0]}",
            f"SlurmdPort={self._ports[1]}",  # one node; several get a Port each below
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SlurmdParameters=config_overrides",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "JobAcctGatherType=jobacct_gather/none",
            "MpiDefault=none",
            "MinJobAge=3600",
            "ReturnToService=2",
            f"StateSaveLocation={slurm / 'state'}",
            f"SlurmdSpoolDir={slurm / 'spool' / '%n'}",
            f"SlurmctldPidFile={slurm / 'slurmctld.pid'}",
            f"SlurmdPidFile={slurm / 'slurmd.%n.pid'}",
            f"SlurmctldLogFile={slurm / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={slurm / 'log' / 'slurmd.%n.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            *self._node_lines(),
            f"PartitionName={self.partition} Nodes={','.join(self.nodes)} Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n"
        self.conf.write_text(text)
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SYSTEM_CONF.write_text(text)
        self._wrote_system_conf = True
