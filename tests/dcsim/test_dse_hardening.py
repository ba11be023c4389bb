"""dcsim dse under abuse: SIGKILL with --jobs 1, killed parents, stale temporary files, two runs on one
folder, huge sweeps, unreachable schedulers and names that leave runs/dse/ (docs/dse.md)."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcsim.cli import main
from dcsim.dse.store import LOCK_NAME, lock_output
from dcsim.dse.sweep import load_sweep

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _sweep(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _cmd(p: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dcsim", "dse", str(p), "--out", str(out), "--quiet", *extra]


def _wait_points(proc, pts: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and len(list(pts.glob("*.json"))) < n:
        time.sleep(0.01)


def _one_line_error(capsys, needle: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    errs = [x for x in lines if x.startswith("dcsim: error: ")]
    assert len(errs) == 1 and errs[0] == lines[-1] and needle in errs[0], lines
    return errs[0]


SMALL = """
[sweep]
name = "small"
workloads = ["eie:nt-we"]
[axes]
accel.n_pe = [16, 32]
"""


# ----------------------------------------------------------------------------- 1. --jobs 1 stores as it goes
def test_jobs_1_sigkill_midway_resumes_with_every_point_exactly_once(tmp_path):
    p = _sweep(tmp_path, """
[sweep]
name = "kill1"
workloads = ["eie:alex-7", "eie:alex-8", "eie:nt-we"]
[axes]
accel.n_pe = [1, 2, 4, 8, 16, 32]
""")
    out = tmp_path / "o"
    pts = out / "points"
    cmd = _cmd(p, out, "--jobs", "1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_points(proc, pts, 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    before = {f.name: f.read_bytes() for f in pts.glob("*.json")}
    n = len(load_sweep(p).points)
    assert 3 <= len(before) < n
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resuming: {len(before)} of {n} points" in r.stderr
    for name, data in before.items():
        assert (pts / name).read_bytes() == data  # neither recomputed nor rewritten
    rows = _csv(out / "results.csv")
    assert [r["point_id"] for r in rows] == [x.point_id for x in load_sweep(p).points]
    assert sum(r["time.run"] == "1" for r in rows) == len(before)
    assert sum(r["time.run"] == "2" for r in rows) == n - len(before)
    assert all(r["status"] == "ok" for r in rows)


def test_serial_executor_runs_one_task_per_wait_in_order():
    from dcsim.dse.executors import SerialExecutor

    ran = []
    ex = SerialExecutor()
    fs = [ex.submit(ran.append, i) for i in range(3)]
    assert ran == []  # nothing runs at submit
    pending = set(fs)
    done = ex.wait(pending)
    assert done == {fs[0]} and ran == [0]
    pending -= done
    assert ex.wait(pending) == {fs[1]} and ran == [0, 1]
    assert fs[2].result() is None and ran == [0, 1, 2]


# ----------------------------------------------------------------------------- 2. a killed parent takes its workers
def _descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("executor", [
    ["--jobs", "2"],
    pytest.param(["--scheduler", "local", "--jobs", "2"], marks=pytest.mark.slow, id="dask-local"),
], ids=lambda e: "pool" if e == ["--jobs", "2"] else "dask-local")
def test_sigkill_of_the_parent_alone_takes_the_workers_and_the_resource_tracker(tmp_path, executor):
    if "local" in executor:
        pytest.importorskip("distributed")
    p = _sweep(tmp_path, """
[sweep]
name = "orphans"
workloads = ["eie:alex-7", "eie:alex-8", "eie:nt-we", "eie:vgg-7"]
[axes]
accel.n_pe = [1, 2, 4, 8, 16, 32]
""")
    out = tmp_path / "o"
    proc = subprocess.Popen(_cmd(p, out, *executor), cwd=ROOT, env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids = []
    try:
        _wait_points(proc, out / "points", 1)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        kids = _descendants(proc.pid)
        assert len(kids) >= 2, kids  # the workers (and the resource tracker)
        assert any("multiprocessing" in " ".join(k.cmdline()) for k in kids)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its process group
        proc.wait()
        gone, alive = psutil.wait_procs(kids, timeout=10)
        assert not alive, [(k.pid, k.cmdline()) for k in alive]
        # nothing else of the sweep's session is left either
        left = [q for q in psutil.process_iter(["pid"]) if _sid(q) == proc.pid]
        assert not left, [(q.pid, q.cmdline()) for q in left]
    finally:
        for k in kids:
            try:
                k.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _sid(q) -> int | None:
    try:
        return os.getsid(q.pid)
    except OSError:
        return None


def test_pool_worker_watchdog_exits_when_the_parent_changes():
    # the watchdog alone (no prctl): a child's child whose parent exits is gone within a few seconds
    code = ("import os, sys, time, multiprocessing as mp\n"
            "from dcsim.dse.executors import _watch_parent\n"
            "import threading\n"
            "def grandchild(ppid):\n"
            "    threading.Thread(target=_watch_parent, args=(ppid, 0.1), daemon=True).start()\n"
            "    time.sleep(60)\n"
            "if __name__ == '__main__':\n"
            "    c = mp.get_context('spawn').Process(target=grandchild, args=(os.getpid(),))\n"
            "    c.start(); print(c.pid, flush=True); time.sleep(0.5); os._exit(0)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    pid = int(r.stdout.split()[0])
    deadline = time.time() + 10
    while time.time() < deadline and psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie":
        time.sleep(0.1)
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    if alive:
        psutil.Process(pid).kill()
    assert not alive


# ----------------------------------------------------------------------------- 3. stale temporary files
def test_stale_temporary_files_are_removed_by_the_next_run(tmp_path, capsys):
    p = _sweep(tmp_path, SMALL)
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    stale = [out / ".energy_breakdown.png.k3j2_x9a.tmp", out / "points" / ".0123abcd.json.zz81kq2m.tmp",
             out / "cache" / "compress" / ".abc.dcz.q1w2e3r4.tmp"]
    for f in stale:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"half")
    keep = out / "notes.tmp"
    keep.write_text("mine")
    capsys.readouterr()
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert not any(f.exists() for f in stale)
    assert keep.exists()
    assert "removed 3 temporary files" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 4. one dcsim dse per folder
def test_a_second_run_on_the_same_out_is_refused_and_a_killed_holder_does_not_block(tmp_path, capsys):
    p = _sweep(tmp_path, SMALL)
    out = tmp_path / "o"
    # held in this process (another open file description: flock conflicts)
    with lock_output(out):
        assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 2
        _one_line_error(capsys, "another dcsim dse is running")
    assert not (out / "points").exists() and not (out / "dse.json").exists()
    # held by another process, which is then killed: its lock dies with it
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from dcsim.dse.store import lock_output\n"
                               f"with lock_output(Path({str(out)!r})):\n"
                               "    print('locked', flush=True); time.sleep(60)\n"],
                              cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 2
        _one_line_error(capsys, str(out / LOCK_NAME))
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK_NAME).exists()  # stale lock file left by the killed holder
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert len(_csv(out / "results.csv")) == 2


def test_lock_is_taken_after_the_early_check_too(tmp_path, monkeypatch, capsys):
    # a run that passes the early check but loses the race for the lock is refused by lock_output
    import dcsim.dse.store as store
    p = _sweep(tmp_path, SMALL)
    out = tmp_path / "o"
    monkeypatch.setattr(store, "output_busy", lambda _out: False)
    with lock_output(out):
        assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 2
    _one_line_error(capsys, "another dcsim dse is running")


# ----------------------------------------------------------------------------- 5. huge sweeps
def test_a_million_point_sweep_is_refused_at_once(tmp_path, capsys):
    p = _sweep(tmp_path, '[sweep]\nworkloads = ["eie:nt-we"]\n[axes]\n'
                         f"accel.n_pe = {list(range(1, 101))}\naccel.fifo_depth = {list(range(1, 101))}\n"
                         f"accel.clock_mhz = {[float(x) for x in range(100, 200)]}\n")
    out = tmp_path / "o"
    t0 = time.time()
    assert main(["dse", str(p), "--out", str(out), "--dry-run"]) == 2
    assert time.time() - t0 < 10
    err = _one_line_error(capsys, "1,000,000 points")
    assert "max_points = 100,000" in err and str(p) in err
    assert not out.exists()


def test_max_points_from_the_file_and_the_flag(tmp_path, capsys):
    text = '[sweep]\nworkloads = ["eie:nt-we", "eie:alex-7"]\n{extra}[axes]\naccel.n_pe = [4, 8]\n' \
           '[[grid]]\naccel.fifo_depth = [1, 2, 4]\n'
    p = _sweep(tmp_path, text.format(extra=""))
    assert len(load_sweep(p).points) == 10
    assert main(["dse", str(p), "--dry-run", "--max-points", "9"]) == 2
    _one_line_error(capsys, "expands to 10 points")
    assert main(["dse", str(p), "--dry-run", "--max-points", "10"]) == 0
    capsys.readouterr()
    q = _sweep(tmp_path, text.format(extra="max_points = 5\n"), "q.toml")
    assert main(["dse", str(q), "--dry-run"]) == 2
    _one_line_error(capsys, "max_points = 5")
    assert main(["dse", str(q), "--dry-run", "--max-points", "100"]) == 0  # the flag wins
    capsys.readouterr()
    assert main(["dse", str(p), "--dry-run", "--max-points", "0"]) == 2
    _one_line_error(capsys, "--max-points 0")
    r = _sweep(tmp_path, text.format(extra="max_points = 0\n"), "r.toml")
    assert main(["dse", str(r), "--dry-run"]) == 2
    _one_line_error(capsys, "max_points = 0")


# ----------------------------------------------------------------------------- 6. nothing written on error
def test_an_unreachable_scheduler_writes_nothing(tmp_path, capsys):
    pytest.importorskip("distributed")
    p = _sweep(tmp_path, SMALL)
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--scheduler", "tcp://127.0.0.1:1", "--quiet"]) == 2
    _one_line_error(capsys, "dse: ")
    assert not out.exists()


def test_tls_without_certificates_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    for k in list(os.environ):
        if k.startswith("DASK_DISTRIBUTED__COMM__TLS"):
            monkeypatch.delenv(k)
    p = _sweep(tmp_path, SMALL)
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--scheduler", "tls://127.0.0.1:1", "--quiet"]) == 2
    _one_line_error(capsys, "distributed.comm.tls.ca-file")
    assert not out.exists()


@pytest.mark.parametrize("name", ["/tmp/evil", "../evil", "a/../../evil", "..", ".", "a/b", "a\\\\b", ".hidden"])
def test_names_that_leave_runs_dse_are_refused(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    p = _sweep(tmp_path, f'[sweep]\nname = "{name}"\nworkloads = ["eie:nt-we"]\n')
    assert main(["dse", str(p), "--jobs", "1", "--quiet"]) == 2
    _one_line_error(capsys, "plain folder name")
    assert not (tmp_path / "runs").exists()


def test_plain_names_still_work(tmp_path):
    p = _sweep(tmp_path, '[sweep]\nname = "fifo-depth_2 v1.0"\nworkloads = ["eie:nt-we"]\n')
    assert load_sweep(p).name == "fifo-depth_2 v1.0"


# ----------------------------------------------------------------------------- 7. TLS from dask's config
_TLS_CLUSTER = """
import sys, time
from distributed import LocalCluster
from distributed.security import Security
if __name__ == "__main__":
    c, k = sys.argv[1], sys.argv[2]
    sec = Security(tls_ca_file=c, tls_scheduler_cert=c, tls_scheduler_key=k, tls_worker_cert=c, tls_worker_key=k,
                   tls_client_cert=c, tls_client_key=k, require_encryption=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, protocol="tls://", security=sec,
                      dashboard_address=None) as cl:
        print(cl.scheduler_address, flush=True)
        sys.stdin.read()
"""


@pytest.mark.slow
def test_tls_scheduler_with_certificates_from_dask_config(tmp_path):
    pytest.importorskip("distributed")
    import shutil
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    (tmp_path / "cluster.py").write_text(_TLS_CLUSTER)
    cluster = subprocess.Popen([sys.executable, str(tmp_path / "cluster.py"), str(cert), str(key)], cwd=ROOT, env=ENV,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = cluster.stdout.readline().strip()
        assert addr.startswith("tls://"), addr
        p = _sweep(tmp_path, SMALL)
        env = {**ENV, "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(cert),
               "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert), "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key)}
        r = subprocess.run(_cmd(p, tmp_path / "o", "--scheduler", addr), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert len(_csv(tmp_path / "o" / "results.csv")) == 2
        # plain tcp to the TLS scheduler: refused, nothing written
        r = subprocess.run(_cmd(p, tmp_path / "o2", "--scheduler", addr.replace("tls://", "tcp://")), cwd=ROOT,
                           env=ENV, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and not (tmp_path / "o2").exists()
    finally:
        cluster.stdin.close()
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()


def test_point_records_are_strict_json_with_undefined_ratios_as_null(tmp_path):
    import json
    import math

    from dcsim.dse.store import Store

    store = Store(tmp_path)
    store.points.mkdir(parents=True)
    rec = {"point_id": "p0", "row": {"status": "ok", "utilization": float("nan"), "gain": math.inf,
                                     "cycles": 12, "n": [1.5, float("-inf")]}, "layers": [], "traceback": ""}
    store.write_point(rec)
    text = store.point_path("p0").read_text()

    def refuse(c):
        raise ValueError(c)

    back = json.loads(text, parse_constant=refuse)  # NaN / Infinity would reach parse_constant
    assert back["row"] == {"status": "ok", "utilization": None, "gain": None, "cycles": 12, "n": [1.5, None]}
    assert store.read_point("p0")["row"]["cycles"] == 12
