"""A real MQTT broker on loopback for local clusters (`cluster up --gateways`), benchmarks and
tests, in a process of its own so it can be stopped and restarted: Debian's mosquitto where
installed, else amqtt (pure Python, in the `test` extra).

Clients log in as USER with PASSWORD: amqtt keeps QoS 1 messages for a disconnected session only
when its client logged in (anonymous sessions get none), as on a real community broker; mosquitto
started this way listens on loopback and lets anyone in. The password reaches amqtt through its
environment, not its command line. Either way it is a development broker: any local process
can publish a meter's readings into it, which its gateway would then sign. A deployment's
broker authenticates each meter (per-client credentials or TLS client certificates).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

USER, PASSWORD = "gateway", "meter-secret"
# mosquitto's bound on a packet (its default is 256 MB, which a gateway must hold whole to refuse):
# a meter's reading is at most 4 KiB, and a gateway's largest report, a market window with all of
# its household's orders, trades and settlement lines it reads (16 pages of 1,024 of each, about
# 150 bytes apiece), stays under this.
MAX_PACKET_BYTES = 8 * 1024 * 1024
AMQTT = """
import asyncio, logging, os, sys, tempfile
from amqtt.broker import Broker
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

logging.basicConfig(level=logging.WARNING)

async def main(port, user, password):
    users = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    users.write(f"{user}:{PasswordHash((Argon2Hasher(),)).hash(password)}\\n")
    users.close()
    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                     "plugins": {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": users.name}}})
    await broker.start()
    await asyncio.Event().wait()

asyncio.run(main(int(sys.argv[1]), sys.argv[2], os.environ["POWNODE_BROKER_PASSWORD"]))  # argv[3:]: --home DIR
"""

KINDS = ("amqtt", "mosquitto")


def _mosquitto() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")


def available(kind: str) -> bool:
    if kind == "amqtt":
        return importlib.util.find_spec("amqtt") is not None
    return _mosquitto() is not None


def best_available() -> str:
    """mosquitto if installed, else amqtt; a clear error when neither is."""
    for kind in ("mosquitto", "amqtt"):
        if available(kind):
            return kind
    raise RuntimeError("no MQTT broker: install mosquitto (apt-get install mosquitto) or amqtt (pip install amqtt)")


def start(kind: str, port: int, home: Path | None = None, **popen: object) -> subprocess.Popen:
    """A broker on 127.0.0.1:port, once it accepts connections. With `home` (a folder of its
    own), its command line names that folder, so a cluster can tell its broker from any other
    process (mosquitto reads its configuration from there). `popen`: more subprocess.Popen
    arguments (say, a session of its own)."""
    if kind == "amqtt":
        command = [sys.executable, "-c", AMQTT, str(port), USER] + (["--home", str(home)] if home else [])
    elif home is not None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                             f"max_packet_size {MAX_PACKET_BYTES}\n")
        command = [_mosquitto() or "mosquitto", "-c", str(home / "mosquitto.conf")]
    else:
        command = [_mosquitto() or "mosquitto", "-p", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "POWNODE_BROKER_PASSWORD": PASSWORD}, **popen)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited with {proc.returncode}") from None
            time.sleep(0.1)
    proc.kill()
    raise TimeoutError(f"{kind} did not listen on {port}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
