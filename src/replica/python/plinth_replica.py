"""How a Python replica process becomes its replica, and how long it outlives its server. Standard
library only; imports nothing of the model.

Started as a standby (PLINTH_STANDBY=1), it says it is up on PLINTH_STANDBY_BOOTED_FD and waits for
one JSON line on stdin: the environment, directory and venv of the replica it becomes, so a cold
start pays only for the model's own work. A replica that runs as its own user (the server is root)
drops to it first thing, before the venv is added to the path (its .pth files run code) and before
anything of the model is imported. It opens its parent file as it boots and keeps it: afterwards the
file may be neither visible nor readable to it.
"""
import glob
import os
import site
import sys
import time


class ParentFile:
    """The parent file (PLINTH_PARENT_FILE): opened while it could be, else opened when it is read."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.reopen()

    def reopen(self):
        if self.fd is not None or not self.path:
            return
        try:
            self.fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            pass  # not written yet (an older server writes it only when it adopts), or not readable

    def read_pid(self):
        self.reopen()
        if self.fd is None:
            return 0
        try:
            return int(os.pread(self.fd, 32, 0).decode().strip() or 0)
        except (OSError, ValueError):
            return 0


def drop_privileges(env):
    """Gives up root for PLINTH_REPLICA_UID / PLINTH_REPLICA_GID, if given."""
    if not env.get("PLINTH_REPLICA_UID"):
        return
    uid = int(env["PLINTH_REPLICA_UID"])
    gid = int(env.get("PLINTH_REPLICA_GID") or uid)
    try:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as e:
        sys.stderr.write("replica: could not run as uid %d: %s\n" % (uid, e))
        sys.stderr.flush()
        os._exit(2)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        sys.stderr.write("replica: still not uid %d after setuid\n" % uid)
        sys.stderr.flush()
        os._exit(2)


def become_replica():
    """Takes on the replica this process is (or, as a standby, waits to be handed); returns its open parent file."""
    # Opened now, while it may be (a standby's is its own, renamed with it when it becomes a replica).
    parent = ParentFile(os.environ.get("PLINTH_PARENT_FILE"))
    if os.environ.get("PLINTH_STANDBY") != "1":
        if os.environ.get("PLINTH_ENV_SITE") == "1" and os.environ.get("PLINTH_ENV_DIR"):
            add_environment_first(os.environ["PLINTH_ENV_DIR"])
        return parent
    booted = int(os.environ.get("PLINTH_STANDBY_BOOTED_FD") or -1)
    if booted >= 0:
        os.write(booted, b"booted\n")
        os.close(booted)
    import json

    takeover = json.loads(sys.stdin.readline())
    os.environ.pop("PLINTH_STANDBY", None)
    os.environ.pop("PLINTH_STANDBY_BOOTED_FD", None)
    env = takeover["env"]
    if parent.fd is None:
        parent.path = env.get("PLINTH_PARENT_FILE")
        parent.reopen()
    drop_privileges(env)
    os.environ.update(env)
    os.chdir(takeover["cwd"])
    env_dir = env.get("PLINTH_ENV_DIR")
    if env_dir:
        leave_interpreter_site(env_dir)
        for packages in glob.glob(os.path.join(env_dir, "lib", "python*", "site-packages")):
            site.addsitedir(packages)
    return parent


def add_environment_first(env_dir):
    """Runs on an interpreter not the venv's own (a base_image's): the venv's site-packages (and
    their .pth files, the base environment's layer) go first on the path, so its pins win."""
    before = list(sys.path)
    for packages in glob.glob(os.path.join(env_dir, "lib", "python*", "site-packages")):
        site.addsitedir(packages)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + before


def leave_interpreter_site(env_dir):
    """A standby runs the venv's base interpreter: its own site-packages leave the path, as they would
    for the venv's python (unless the venv includes them), so that the venv's packages come first."""
    try:
        with open(os.path.join(env_dir, "pyvenv.cfg")) as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() == "include-system-site-packages" and value.strip().lower() == "true":
                    return
    except OSError:
        return
    own = set(site.getsitepackages())
    own.add(site.getusersitepackages())
    sys.path[:] = [p for p in sys.path if p not in own]


def watch_parent(loop, stop, parent_file):
    """A replica outlives its platform process only for a grace period, in which a restarted server
    adopts it by writing its own pid to its parent file; then it serves on under the new owner."""
    first = int(os.environ.get("PLINTH_PARENT_PID") or 0)
    if first <= 0:
        return
    grace = float(os.environ.get("PLINTH_REPLICA_GRACE_S") or 0)
    state = {"parent": first, "orphaned_at": None}

    def alive(pid):
        try:
            os.kill(pid, 0)
            return True
        except PermissionError:
            return True  # a server running as another user (root) cannot be signalled, but is there
        except OSError:
            return False

    def check():
        if not alive(state["parent"]):
            now = time.monotonic()
            if state["orphaned_at"] is None:
                state["orphaned_at"] = now
            pid = parent_file.read_pid()
            if pid > 0 and pid != state["parent"] and alive(pid):
                state["parent"] = pid
                state["orphaned_at"] = None
            elif now - state["orphaned_at"] >= grace:
                os._exit(0)
        loop.call_later(0.5, check)

    loop.call_later(0.5, check)
