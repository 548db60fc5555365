"""The workflow on a real SLURM, as a new user runs it: `snakemake --profile profiles/slurm`, with the account and
partition in the user's environment.

The fixture starts a cluster on this machine (Debian's munged, slurmctld and slurmd, as root): two nodes, each this
host with its CPUs and memory, so that a job spanning nodes runs for real. A tiny grid goes through it; every training
job must have been a SLURM job (its id in Snakemake's log, its SLURM log kept, `sacct` listing it as completed with
the partition, account, nodes and time limit the workflow asked for), the job beyond `workers_per_node` must have run
its workers under torchrun on both nodes, the aggregating rules must have run where Snakemake runs, and the tables
must equal those of a local run of the same grid.

Accounting: `sacct` reads the job-completion log (`JobCompType=jobcomp/filetxt`, `sacct --completion`), which needs
no slurmdbd and no database; the SLURM executor then polls job states with squeue (`--slurm-status-command squeue`,
with `MinJobAge` keeping finished jobs listed), which a cluster without slurmdbd needs.
"""

import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from runs import load_record
from satbench.workflow import Run, job_resources
from test_workflow import snakemake, workflow_copy

pytestmark = pytest.mark.multiprocess

SLURM_CONF = Path("/etc/slurm/slurm.conf")  # where srun in a job step looks: SLURM_CONF does not reach it
MARK = "# written by satbench's tests/test_slurm.py; removed when the test ends\n"
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo", "sacct")
ACCOUNT, PARTITION = "satbench-test", "test"
GRID = {
    "datasets": {"tiny": {"spec": "sbm:n=300,classes=3,degree=6,features=8,seed=2"}},
    "models": {"gcn": {"hidden": 8, "layers": 2, "dropout": 0.0, "lr": 0.05}},
    "methods": ["digest"],
    "workers": [1, 2],  # W = 1 on one node; W = 2 (and its fresh-halo control) across both
    "seeds": [0],
    "epochs": 4,
    "device": "cpu",
    "sync_period": 2,
    "staleness_every": 1,
}
ON_CLUSTER = {**GRID, "workers_per_node": 1}


def why_not() -> str | None:
    """Why this machine cannot start its own SLURM (None: it can)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "starting slurmctld, slurmd and munged needs root on Linux"
    missing = [program for program in PROGRAMS if shutil.which(program) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (Debian: apt-get install slurmctld slurmd slurm-client munge, "
                "as .ci/run does)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm not installed (pip install 'satbench[cluster]')"
    if SLURM_CONF.exists() and not SLURM_CONF.read_text().startswith(MARK):
        return f"{SLURM_CONF} exists: this machine has a SLURM configuration of its own"
    return None


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for server in sockets:
        server.bind(("127.0.0.1", 0))
    ports = [server.getsockname()[1] for server in sockets]
    for server in sockets:
        server.close()
    return ports


def memory_mb() -> int:
    kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal:"))
    return int(kib / 1024 * 0.9)


def slurm_conf(directory: Path, socket_path: Path) -> str:
    host = socket.gethostname().split(".")[0]
    controller, node1, node2 = free_ports(3)
    cpus = os.cpu_count() or 1
    # Both nodes are this host (one slurmd each, told apart by name and port), each with its CPUs and memory;
    # memory is not a consumable resource, so the two may claim the same.
    return MARK + "\n".join([
        "ClusterName=satbench-test",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={controller}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={socket_path}",
        f"StateSaveLocation={directory / 'state'}",
        f"SlurmdSpoolDir={directory / 'spool'}/%n",
        f"SlurmctldPidFile={directory / 'slurmctld.pid'}",
        f"SlurmdPidFile={directory}/slurmd-%n.pid",
        f"SlurmctldLogFile={directory / 'slurmctld.log'}",
        f"SlurmdLogFile={directory}/slurmd-%n.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={directory / 'jobcomp.txt'}",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "MpiDefault=none",
        "ReturnToService=2",
        "MinJobAge=600",
        f"NodeName=n1 NodeHostname={host} NodeAddr=127.0.0.1 Port={node1} CPUs={cpus} RealMemory={memory_mb()}",
        f"NodeName=n2 NodeHostname={host} NodeAddr=127.0.0.1 Port={node2} CPUs={cpus} RealMemory={memory_mb()}",
        f"PartitionName={PARTITION} Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n"


def stop(pid_file: Path) -> None:
    """Stop the daemon whose pid this test's own daemon wrote, and wait for it to exit."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A two-node SLURM on this machine for this module's tests: started here, stopped (with its jobs) after."""
    reason = why_not()
    if reason:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("slurm")
    (directory / "state").mkdir()
    (directory / "spool").mkdir()
    munge = directory / "munge"
    munge.mkdir(mode=0o755)
    key = munge / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o600)
    socket_path = munge / "munge.socket"
    daemons = [munge / "munged.pid", directory / "slurmd-n1.pid", directory / "slurmd-n2.pid",
               directory / "slurmctld.pid"]
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(slurm_conf(directory, socket_path))
    try:
        subprocess.run(["munged", "--force", f"--socket={socket_path}", f"--key-file={key}",
                        f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                        f"--seed-file={munge / 'munged.seed'}"], check=True)
        subprocess.run(["slurmctld"], check=True)
        for node in ("n1", "n2"):
            subprocess.run(["slurmd", "-N", node], check=True)
        deadline = time.monotonic() + 60
        states = ""
        while time.monotonic() < deadline:
            states = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True).stdout
            if sorted(states.split()) == ["idle", "idle", "n1", "n2"]:
                break
            time.sleep(0.5)
        else:
            logs = "\n".join(path.read_text()[-2000:] for path in directory.glob("*.log"))
            pytest.fail(f"the test cluster did not come up: sinfo says {states!r}\n{logs}")
        yield directory
    finally:
        subprocess.run(["scancel", f"--user={getpass.getuser()}"], capture_output=True)
        for pid_file in reversed(daemons):
            stop(pid_file)
        SLURM_CONF.unlink(missing_ok=True)


def comparable(table: Path) -> pd.DataFrame:
    """A table without what is measured in seconds or bytes of memory, without when a record was written (these
    differ from run to run), and without how the workers ran (torchrun across nodes, in-process on one: the launcher
    and its backend, gloo or the in-process group)."""
    frame = pd.read_csv(table)
    return frame[[column for column in frame.columns
                  if not re.search(r"time|\(s\)|memory|^created$|^launcher$|^backend$", column)]]


def test_the_workflow_runs_on_slurm_as_on_this_machine(slurm, tmp_path):
    # The same grid on this machine (every job on one node), meanwhile: the reference for the tables.
    here = workflow_copy(tmp_path / "here", GRID)
    with ThreadPoolExecutor(1) as pool:
        local = pool.submit(snakemake, here, "--cores", "2")
        cluster = workflow_copy(tmp_path / "cluster", ON_CLUSTER)
        env = {"SATBENCH_SLURM_ACCOUNT": ACCOUNT, "SATBENCH_SLURM_PARTITION": PARTITION}  # as a user gives them
        result = snakemake(cluster, "--profile", "profiles/slurm", "--retries", "0", "--slurm-status-command",
                           "squeue", "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs",
                           env=env)
        local = local.result()
    assert result.returncode == 0, result.stderr[-5000:]

    # Every training job, and nothing else, was submitted; its SLURM log is kept, named by its job id.
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", result.stderr))
    assert len(submitted) == 3, result.stderr[-5000:]
    for job_id in submitted.values():
        logs = list((cluster / ".snakemake" / "slurm_logs").rglob(f"{job_id}.log"))
        assert len(logs) == 1 and logs[0].stat().st_size > 0, job_id
    rules = {rule for rule in re.findall(r"^(?:local)?rule (\w+):", result.stderr, re.MULTILINE)}
    # W = 1 runs in-process on one node, its grid's job of that dataset, model and W (a rule of its own); W = 2 spans
    # the nodes, a job of one setting under the wildcard rules
    assert rules == {"datasets_ready", "runs_tiny_gcn_w1", "runs", "controls", "tables", "figures", "data", "all"}
    for rule in ("datasets_ready", "tables", "figures", "data", "all"):
        assert re.search(rf"^localrule {rule}:", result.stderr, re.MULTILINE), rule

    # sacct knows them: completed, in the partition and account the user gave, with the nodes and the time limit
    # the workflow estimated for each.
    rows = subprocess.run(["sacct", "--completion", "--parsable2", "--noheader", "--jobs", ",".join(submitted.values()),
                           "--format", "JobID,JobName,State,Partition,Account,NNodes,Timelimit"],
                          capture_output=True, text=True, check=True).stdout.split()
    accounted = {row.split("|")[0]: row.split("|")[2:] for row in rows}
    assert set(accounted) == set(submitted.values())
    expected_minutes = job_resources(ON_CLUSTER, Run("tiny", "gcn", "digest", 2, 0), seeds=1)["runtime"]
    for state, partition, account, nodes, limit in accounted.values():
        assert (state, partition, account) == ("COMPLETED", PARTITION, ACCOUNT)
        assert nodes in ("1", "2") and int(limit) == expected_minutes  # minutes, as the job-completion log has it
    assert sorted(nodes for *_, nodes, _ in accounted.values()) == ["1", "2", "2"]  # W = 2 spans both nodes

    records = {path.relative_to(cluster).as_posix(): load_record(path) for path in cluster.rglob("seed0.json")}
    assert set(records) == {"results/runs/tiny/gcn/digest/w1/seed0.json", "results/runs/tiny/gcn/digest/w2/seed0.json",
                            "results/controls/tiny/gcn/digest/w2/seed0.json"}
    for path, record in records.items():
        # across nodes torchrun's processes; on one node the workflow's default, the workers as threads
        assert record["env"]["launcher"] == ("torchrun" if "/w2/" in path else "inprocess"), path
        assert record["env"]["world_size"] == record["config"]["workers"]

    # The same grid on this machine made the same tables.
    assert local.returncode == 0, local.stderr[-3000:]
    tables = sorted(path.name for path in (here / "results" / "tables").glob("*.csv"))
    assert tables == sorted(path.name for path in (cluster / "results" / "tables").glob("*.csv"))
    assert {"accuracy.csv", "staleness.csv", "runs.csv"} <= set(tables)
    for name in tables:
        pd.testing.assert_frame_equal(comparable(cluster / "results" / "tables" / name),
                                      comparable(here / "results" / "tables" / name), obj=name)
