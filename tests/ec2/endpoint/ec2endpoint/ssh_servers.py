"""Each instance's SSH server: cloudhost-loopback-server in its own
directory (listening on 127.0.0.1 on a port of its choosing), reached at
the instance's own address through a small TCP forwarder, so that
PrivateIpAddress:ssh_port is a real SSH server like a VM's."""

import concurrent.futures
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time

PR_SET_PDEATHSIG = 1
BOOT_TIMEOUT = 60.0      # seconds to wait for the server to publish its address
STOP_GRACE = 2.0         # seconds between SIGTERM and SIGKILL
POLL_STEP = 0.02
MAX_CONNECTIONS = 64     # per instance
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # Runs in the child between fork and exec: the server gets SIGTERM when
    # the thread that started it (our long-lived spawner thread) dies.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def session_members(session_id):
    """Pids of the live processes of a session (the server and its commands)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == session_id and fields[0] != "Z":
            members.append(int(entry))
    return members


def _pump(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    try:
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _relay(client, backend, done):
    """Copies both ways until both sides have finished, then closes both."""
    back = threading.Thread(target=_pump, args=(backend, client), daemon=True)
    back.start()
    _pump(client, backend)
    back.join()
    client.close()
    backend.close()
    done((client, backend))


class SshServer:
    def __init__(self, directory, address, ssh_port):
        self.directory = directory
        self.address = address
        self.ssh_port = ssh_port
        self.process = None
        self.backend_port = None
        self.error = None
        self._listener = None
        self._connections = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def describe(self):
        return {"directory": self.directory, "address": self.address, "ssh_port": self.ssh_port,
                "pid": self.process.pid if self.process else None, "backend_port": self.backend_port,
                "listening": self._listener is not None, "error": self.error}

    def _wait_and_forward(self):
        deadline = time.monotonic() + BOOT_TIMEOUT
        address_file = os.path.join(self.directory, "address")
        while not self._stopped.is_set():
            if self.process.poll() is not None:
                self.error = f"server exited with status {self.process.returncode} before listening"
                return
            try:
                with open(address_file) as f:
                    self.backend_port = int(f.read().strip().rsplit(":", 1)[1])
                break
            except (OSError, ValueError, IndexError):
                pass
            if time.monotonic() > deadline:
                self.error = f"server published no address within {BOOT_TIMEOUT} s"
                return
            time.sleep(POLL_STEP)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.address, self.ssh_port))
            listener.listen(16)
        except OSError as e:
            listener.close()
            self.error = f"cannot listen on {self.address}:{self.ssh_port}: {e}"
            return
        with self._lock:
            if self._stopped.is_set():
                listener.close()
                return
            self._listener = listener
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            try:
                backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=5)
                backend.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._stopped.is_set() or len(self._connections) >= MAX_CONNECTIONS:
                    client.close()
                    backend.close()
                    continue
                self._connections.append((client, backend))
            threading.Thread(target=_relay, args=(client, backend, self._connection_done), daemon=True).start()

    def _connection_done(self, pair):
        with self._lock:
            if pair in self._connections:
                self._connections.remove(pair)

    def stop(self):
        """Stops the forwarder, the server and every process of its session."""
        with self._lock:
            self._stopped.set()
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
            except OSError:
                pass
            listener.close()
        for pair in connections:
            for c in pair:
                try:
                    c.shutdown(socket.SHUT_RDWR)  # the relay threads then close them
                except OSError:
                    pass
        if self.process is None:
            return
        pid = self.process.pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + STOP_GRACE
        while True:
            members = session_members(pid)
            if self.process.poll() is None:
                members.append(pid)
            if not members or time.monotonic() > deadline:
                break
            for member in members:
                try:
                    os.kill(member, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(POLL_STEP)
        try:
            self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.error = f"server {pid} did not die"


class SshServers:
    """Starts servers from one long-lived thread (so PR_SET_PDEATHSIG fires
    only when the endpoint dies) and stops them all on close()."""

    def __init__(self, server_program, ssh_port):
        self.server_program = server_program
        self.ssh_port = ssh_port
        self._spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")
        self._servers = []
        self._lock = threading.Lock()

    def start(self, directory, address, public_key, init_command):
        os.makedirs(directory, mode=0o700)
        with open(os.path.join(directory, "authorized_key"), "w") as f:
            f.write(public_key.strip() + "\n")
        if init_command:
            with open(os.path.join(directory, "init_command"), "w") as f:
                f.write(init_command)
        server = SshServer(directory, address, self.ssh_port)
        with self._lock:
            self._servers.append(server)
        if self.server_program is None:
            return server

        def spawn():
            log = open(os.path.join(directory, "server.log"), "ab")
            try:
                return subprocess.Popen([self.server_program, directory], stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, cwd=directory, start_new_session=True,
                                        preexec_fn=_die_with_parent)
            finally:
                log.close()

        server.process = self._spawner.submit(spawn).result()
        threading.Thread(target=server._wait_and_forward, name=f"forward-{address}", daemon=True).start()
        return server

    def stop(self, server):
        server.stop()
        with self._lock:
            if server in self._servers:
                self._servers.remove(server)

    def close(self):
        with self._lock:
            servers, self._servers = self._servers, []
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda s: s.stop(), servers))
        self._spawner.shutdown()
