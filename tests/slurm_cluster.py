"""A throw-away one-node SLURM cluster on localhost with one fake GPU, for the cluster tests.

Follows /work/shared/notes/slurm.md: Debian's slurmctld, slurmd and munge (installed with
apt-get when `slurmctld` is missing), a node `localhost` (NodeAddr 127.0.0.1) with the
machine's CPUs and RealMemory, `GresTypes=gpu` and `Gres=gpu:1` backed by /dev/null, no
accounting (so runs must pass `--slurm-status-command squeue`), daemons run in the foreground
mode as background processes and stopped by their process id. Every file lives in a private
state directory; the one system file is the symlink /etc/slurm/slurm.conf (the plugin's
jobstep drops SLURM_CONF before its nested srun, so clients must find the config there).

    with slurm_cluster() as cluster:
        cluster.command("sinfo")

Needs root. Two clusters cannot run at once (they would share /etc/slurm/slurm.conf).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = ".dpharm-test-slurm"  # marks a state directory this module created
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or set up on this machine (not root, no apt, a real cluster)."""


def timed(seconds: float, *command: str) -> list[str]:
    """`command` under coreutils timeout: SIGTERM after `seconds`, SIGKILL 10 s later."""
    return ["timeout", "-k", "10", str(int(seconds)), *command]


def run(*command: str, timeout: float = 60, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(timed(timeout, *command), capture_output=True, text=True, env=env, timeout=timeout + 20)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def ensure_installed() -> None:
    """Install Debian's SLURM and munge packages when `slurmctld` is missing."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("a local SLURM cluster needs root")
    if all(shutil.which(name) for name in ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol")):
        return
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("slurmctld is missing and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ("apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES)
    if run(*install, timeout=900, check=False, env=env).returncode != 0:
        run("apt-get", "update", "-q", timeout=600, check=False, env=env)
        result = run(*install, timeout=900, check=False, env=env)
        if result.returncode != 0:
            raise SlurmUnavailable(f"apt-get install {' '.join(PACKAGES)} failed:\n{result.stderr[-2000:]}")


def machine_resources() -> tuple[int, int]:
    """CPUs and RealMemory (MB) as slurmd itself sees them (`slurmd -C`)."""
    output = run("slurmd", "-C", timeout=30).stdout
    cpus = int(re.search(r"\bCPUs=(\d+)", output).group(1))
    memory = int(re.search(r"\bRealMemory=(\d+)", output).group(1))
    return cpus, memory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SlurmCluster:
    state: Path
    partition: str = "debug"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.state / "slurm.conf"

    @property
    def task_env_log(self) -> Path:
        """One line per job step: `<job id> <step id> CUDA_VISIBLE_DEVICES=<value or unset>`."""
        return self.state / "task_env.log"

    def command(self, *command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        """A SLURM client command (sinfo, squeue, scontrol, scancel, sbatch) under a timeout."""
        return run(*command, timeout=timeout, check=check)

    def write_config(self) -> None:
        cpus, memory = machine_resources()
        munge = self.state / "munge"
        for folder in (munge, self.state / "ctld", self.state / "slurmd"):
            folder.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        prolog = self.state / "task_prolog.sh"
        prolog.write_text(
            "#!/bin/sh\n"
            "# TaskProlog: record the GPU each job step sees (runs before every task).\n"
            f'echo "$SLURM_JOB_ID ${{SLURM_STEP_ID:-batch}} CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES-unset}}"'
            f" >> {self.task_env_log}\n"
        )
        prolog.chmod(0o755)
        (self.state / "gres.conf").write_text("AutoDetect=off\nNodeName=localhost Name=gpu File=/dev/null\n")
        state = self.state
        self.conf.write_text(f"""\
# Written by tests/slurm_cluster.py for a throw-away test cluster.
ClusterName=dpharmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge / "munge.socket"}
StateSaveLocation={state / "ctld"}
SlurmdSpoolDir={state / "slurmd"}
SlurmctldPidFile={state / "slurmctld.pid"}
SlurmdPidFile={state / "slurmd.pid"}
SlurmctldLogFile={state / "slurmctld.log"}
SlurmdLogFile={state / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
TaskProlog={prolog}
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# keep finished jobs visible to squeue/scontrol for an hour (the plugin polls squeue)
MinJobAge=3600
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} Gres=gpu:1 State=UNKNOWN
PartitionName={self.partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")

    def link_system_conf(self) -> None:
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        if SYSTEM_CONF.is_symlink():
            target = Path(os.readlink(SYSTEM_CONF))
            if target.exists() and not (target.parent / MARKER).exists():
                raise SlurmUnavailable(f"{SYSTEM_CONF} links to {target}, not a test cluster's file")
            SYSTEM_CONF.unlink()  # left behind by an earlier test cluster
        elif SYSTEM_CONF.exists():
            raise SlurmUnavailable(f"{SYSTEM_CONF} exists (a real SLURM setup?); not overwriting it")
        SYSTEM_CONF.symlink_to(self.conf)

    def unlink_system_conf(self) -> None:
        if SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == self.conf:
            SYSTEM_CONF.unlink()

    def start_daemon(self, name: str, *command: str) -> None:
        log = open(self.state / f"{name}.out", "wb")
        self.processes[name] = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "SLURM_CONF": str(self.conf)},
        )
        log.close()
        time.sleep(0.5)
        if self.processes[name].poll() is not None:
            raise RuntimeError(f"{name} exited at once ({self.processes[name].returncode}):\n{self.log_tails()}")

    def start(self) -> None:
        munge = self.state / "munge"
        self.start_daemon(
            "munged",
            "munged",
            "-F",
            "--force",
            f"--socket={munge / 'munge.socket'}",
            f"--key-file={munge / 'munge.key'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
            f"--log-file={munge / 'munged.log'}",
        )
        self.wait_for(lambda: (munge / "munge.socket").exists(), 20, "munged's socket")
        self.start_daemon("slurmctld", "slurmctld", "-D", "-f", str(self.conf))
        self.wait_for(
            lambda: "UP" in self.command("scontrol", "ping", check=False).stdout,
            30,
            "slurmctld to answer `scontrol ping`",
        )
        self.start_daemon("slurmd", "slurmd", "-D", "-N", "localhost", "-f", str(self.conf))
        self.wait_for(lambda: self.node_state() == "idle", 60, "node localhost to be idle")

    def node_state(self) -> str:
        result = self.command("sinfo", "-h", "-N", "-n", "localhost", "-o", "%T", check=False)
        state = result.stdout.strip().lower()
        if any(bad in state for bad in ("drain", "inval", "fail")):
            reason = self.command("scontrol", "show", "node", "localhost", check=False).stdout
            raise RuntimeError(f"node localhost is {state}:\n{reason}\n{self.log_tails()}")
        return state

    def wait_for(self, condition, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} died ({process.returncode}) waiting for {what}:\n{self.log_tails()}")
            if condition():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {seconds} s waiting for {what}:\n{self.log_tails()}")

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job slurmctld still knows (MinJobAge=3600), as `scontrol show job` fields."""
        output = self.command("scontrol", "show", "job", "--oneliner").stdout
        jobs = {}
        for line in output.splitlines():
            fields = dict(re.findall(r"(\w+(?::\w+)?)=(\S*)", line))
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs

    def task_env(self) -> dict[str, set[str]]:
        """Job id -> the CUDA_VISIBLE_DEVICES values its steps saw (`unset` where there was none)."""
        seen: dict[str, set[str]] = {}
        if self.task_env_log.exists():
            for line in self.task_env_log.read_text().splitlines():
                job, _step, variable = line.split(" ", 2)
                seen.setdefault(job, set()).add(variable.split("=", 1)[1])
        return seen

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for path in (
            sorted(self.state.glob("*.log")) + sorted(self.state.glob("*.out")) + [self.state / "munge" / "munged.log"]
        ):
            if path.exists() and path != self.task_env_log:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def cancel_all_jobs(self) -> None:
        """scancel whatever is left (a failed run), so that no job step outlives slurmd."""
        if "slurmctld" not in self.processes or self.processes["slurmctld"].poll() is not None:
            return
        queued = self.command("squeue", "-h", "-t", "PD,R,CG,S", "-o", "%i", check=False).stdout.split()
        if not queued:
            return
        self.command("scancel", *queued, check=False)
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and self.command("squeue", "-h", "-t", "PD,R,CG,S", "-o", "%i", check=False).stdout.strip()
        ):
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the daemons by their process id: slurmd, slurmctld, then munged."""
        with contextlib.suppress(Exception):
            self.cancel_all_jobs()
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@contextlib.contextmanager
def slurm_cluster(partition: str = "debug", keep_state: bool = False) -> Iterator[SlurmCluster]:
    """Bring up the cluster; stop every daemon by PID and remove its files on the way out."""
    ensure_installed()
    state = Path(tempfile.mkdtemp(prefix="dpharm-slurm-"))  # short: unix socket paths are limited
    (state / MARKER).touch()
    cluster = SlurmCluster(state=state, partition=partition)
    try:
        cluster.write_config()
        cluster.link_system_conf()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        cluster.unlink_system_conf()
        if not keep_state:
            shutil.rmtree(state, ignore_errors=True)
