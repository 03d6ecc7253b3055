"""Warm start: every ``minilm-repro`` job in a process forked from one that has already imported
torch, transformers, datasets and MLflow, instead of a fresh interpreter paying those imports.

Every pipeline job is a process of its own (Snakemake's unit of logging, exit status and rerun), and
on a small CPU machine the imports cost as much as a tiny job's work (``benchmarks/bench_job_phases.py``
measures both). Here the job's command line stays ``minilm-repro <command> ...``, but that process
(the *client*) only connects to a per-user *server* on a UNIX socket and hands it its argv, working
directory, environment and standard streams (the file descriptors themselves, ``SCM_RIGHTS``). The
server forks; the child takes the client's streams, directory and environment, runs the command
exactly as the client would have (``minilm_repro.cli.main``), and exits; the server sends the child's
exit status back and the client exits with it. So each job keeps its own process, log, record and
exit status, and a signal to the client (Snakemake stopping a job) reaches the child's process group.
A child whose client dies (SIGKILL) stops itself.

No library does this for a CLI: a fork server is a few dozen lines of the standard library
(``multiprocessing``'s forkserver serves Python functions to a parent, not commands to strangers).

The server is started by the first client that finds none and stops after ``IDLE_SECONDS`` without a
job. One server serves one (interpreter, package source, import-relevant environment): a change to
any of them (an edited module, another ``HF_HUB_OFFLINE``) gets a new server, never stale code.
``MINILM_REPRO_WARM=0`` turns it off (every job a fresh interpreter); it is off inside SLURM jobs,
where each job runs on a node of its own. When the server cannot be reached the job runs in the
client process, as without warm start, and says so on stderr.

Snakemake's benchmark files time the client: their wall seconds are the job's, but their CPU time and
peak memory are the client's alone under warm start (set ``MINILM_REPRO_WARM=0`` to measure those).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

IDLE_SECONDS = 120.0
POLL_SECONDS = 0.02  # how often the server looks for finished jobs
START_TIMEOUT = 300.0  # the server's imports on a loaded 2-core machine
PROTOCOL = 1
# environment variables read when these libraries are imported: the server's must be the client's
IMPORT_ENV = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "DATASETS_", "TORCH", "PYTORCH_", "CUDA", "OMP_", "MKL_",
              "OPENBLAS_", "TOKENIZERS_", "MLFLOW_", "PYTHON", "MPLBACKEND", "LD_", "NUMEXPR_")
# what every job stage imports; the server imports them once, each forked job finds them loaded
PRELOAD = ("torch", "numpy", "pandas", "datasets", "mlflow", "yaml", "minilm_repro.finetune.run",
           "minilm_repro.distill.train", "minilm_repro.pretrain.train", "minilm_repro.jobs.tracking",
           "minilm_repro.jobs.training_run", "minilm_repro.data.corpus", "minilm_repro.finetune.features")
PRELOAD_ATTRS = {"transformers": ("Trainer", "TrainingArguments", "AutoModel", "AutoConfig", "AutoTokenizer",
                                  "AutoModelForSequenceClassification", "AutoModelForQuestionAnswering",
                                  "AutoModelForMaskedLM", "DataCollatorWithPadding", "HfArgumentParser")}


SERVER_MAIN = ("import json, sys; sys.path[:] = json.loads(sys.argv[2]); from pathlib import Path; "
               "from minilm_repro.jobs.warm import serve; serve(Path(sys.argv[1]))")
_in_child = False  # this process is a job forked by the server: it runs its command itself


def enabled(env=os.environ) -> bool:
    """Whether ``minilm-repro`` commands run in a warm process (``MINILM_REPRO_WARM``, default on)."""
    return (not _in_child and env.get("MINILM_REPRO_WARM", "1") != "0" and not env.get("SLURM_JOB_ID")
            and sys.platform == "linux" and hasattr(socket, "send_fds"))


def server_key(env=os.environ) -> str:
    """What a server's imports depend on: interpreter, import path, package source files, environment."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(f"{PROTOCOL}\0{sys.executable}\0{sys.version}\0{os.getuid()}".encode())
    h.update("\0".join(sys.path).encode())
    for f in sorted(package.rglob("*.py")):
        st = f.stat()
        h.update(f"{f}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    h.update(json.dumps(sorted((k, v) for k, v in env.items() if k.startswith(IMPORT_ENV))).encode())
    return h.hexdigest()[:16]


def runtime_dir() -> Path:
    """Where the servers' sockets, locks and logs are (``MINILM_REPRO_WARM_DIR``; default per user)."""
    d = Path(os.environ.get("MINILM_REPRO_WARM_DIR") or
             Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"minilm-repro-warm-{os.getuid()}")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


# ---- framing: a 4-byte length, then JSON -------------------------------------------------------
def _send(sock: socket.socket, obj, fds=()) -> None:
    blob = json.dumps(obj).encode()
    msg = struct.pack("!I", len(blob)) + blob
    if fds:
        socket.send_fds(sock, [msg], list(fds))
    else:
        sock.sendall(msg)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _recv(sock: socket.socket):
    (n,) = struct.unpack("!I", _recv_exact(sock, 4))
    return json.loads(_recv_exact(sock, n))


# ---- client ------------------------------------------------------------------------------------
def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _server_socket(key: str) -> socket.socket:
    """A connection to the server of ``key``, starting it (one starter at a time: a lock file) if none answers."""
    d = runtime_dir()
    path = d / f"{key}.sock"
    sock = _connect(path)
    if sock:
        return sock
    with open(d / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(path)
        if sock:
            return sock
        path.unlink(missing_ok=True)
        with open(d / f"{key}.log", "ab") as log:
            # the client's import path, not the server's working directory's: the same modules
            proc = subprocess.Popen([sys.executable, "-c", SERVER_MAIN, str(path), json.dumps(sys.path)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                    close_fds=True)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if proc.poll() is not None:
                raise OSError(f"warm server exited with status {proc.returncode} (log: {d / f'{key}.log'})")
            sock = _connect(path)
            if sock:
                return sock
            time.sleep(0.05)
        raise OSError(f"warm server did not answer within {START_TIMEOUT:.0f} s")


def run(argv: list[str]) -> int | None:
    """Run ``minilm-repro argv`` in a forked warm process; its exit status, or None when no server
    can be had (the caller then runs the command itself)."""
    for attempt in range(2):
        try:
            sock = _server_socket(server_key())
        except OSError as exc:
            print(f"minilm-repro: warm start unavailable ({exc}); running in this process", file=sys.stderr)
            return None
        with sock:
            for f in (sys.stdout, sys.stderr):
                f.flush()
            try:
                _send(sock, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}, fds=(0, 1, 2))
                pid = _recv(sock)["pid"]
            except (OSError, EOFError):
                continue  # the server was stopping: start another
            forward = functools.partial(_signal_group, pid)
            old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
            try:
                while True:
                    try:
                        return int(_recv(sock)["status"])
                    except InterruptedError:
                        continue
            except EOFError:
                print("minilm-repro: the warm server went away during the job", file=sys.stderr)
                return 1
            finally:
                for s, h in old.items():
                    signal.signal(s, h)
    print("minilm-repro: warm start unavailable (server stopping); running in this process", file=sys.stderr)
    return None


def _signal_group(pid: int, signum: int, _frame=None) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


# ---- server ------------------------------------------------------------------------------------
def _preload() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for module, attrs in PRELOAD_ATTRS.items():
        mod = importlib.import_module(module)
        for attr in attrs:
            getattr(mod, attr)


def _child(conn: socket.socket, listener: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked process: become the client's job, run it, exit with its status (never returns)."""
    import random
    import threading
    import traceback

    global _in_child
    _in_child = True
    code = 1
    try:
        os.setsid()
        listener.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["minilm-repro", *request["argv"]]
        random.seed()  # a fresh interpreter's entropy, not the server's state
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()

        def watch_client() -> None:  # the client's end closes only when it dies: stop the job with it
            try:
                while conn.recv(1):
                    pass
            except OSError:
                pass
            os.killpg(0, signal.SIGTERM)

        threading.Thread(target=watch_client, daemon=True).start()
        from minilm_repro.cli import main

        try:
            code = int(main(request["argv"]) or 0)
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            traceback.print_exc()
            code = 128 + signal.SIGINT
        except Exception:  # noqa: BLE001 (the interpreter's top level: print it, exit 1, as Python would)
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _status(wait_status: int) -> int:
    return os.waitstatus_to_exitcode(wait_status) if os.WIFEXITED(wait_status) else 128 + os.WTERMSIG(wait_status)


def serve(path: Path) -> None:
    """Import the libraries, then fork one child per job request until idle for ``IDLE_SECONDS``."""
    _preload()
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp))
    listener.listen(64)
    os.replace(tmp, path)  # appears complete: a client connects only to a listening server
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    jobs: dict[int, socket.socket] = {}
    last = time.time()
    while True:
        for _key, _ in sel.select(timeout=POLL_SECONDS):
            conn, _ = listener.accept()
            try:
                msg, fds, _flags, _addr = socket.recv_fds(conn, 4, 16)
                (n,) = struct.unpack("!I", msg)
                request = json.loads(_recv_exact(conn, n))
            except (OSError, EOFError, ValueError, struct.error):
                conn.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(conn, listener, request, fds)
            for fd in fds:
                os.close(fd)
            jobs[pid] = conn
            try:
                _send(conn, {"pid": pid})
            except OSError:
                pass
        while jobs:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = jobs.pop(pid, None)
            if conn is not None:
                try:
                    _send(conn, {"status": _status(wait_status)})
                except OSError:
                    pass
                conn.close()
            last = time.time()
        if not jobs and time.time() - last > IDLE_SECONDS:
            path.unlink(missing_ok=True)  # new clients start a new server; queued ones retry
            listener.close()
            return

