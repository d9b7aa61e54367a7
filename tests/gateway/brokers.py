"""Real MQTT brokers for the gateway tests, each in a process of its own so a test can stop and
restart it: amqtt (pure Python, always available with the test extra) and Debian's mosquitto
where installed."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from typing import Callable

# amqtt keeps QoS 1 messages for a disconnected session only when its client logged in
# (anonymous sessions get none), so its clients log in, as on a real community broker.
USER, PASSWORD = "gateway", "meter-secret"
AMQTT = """
import asyncio, logging, sys, tempfile
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

asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
"""

KINDS = ("amqtt", "mosquitto")


def _mosquitto() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")


def available(kind: str) -> bool:
    return kind == "amqtt" or _mosquitto() is not None


def start(kind: str, port: int) -> subprocess.Popen:
    """A broker on 127.0.0.1:port, once it accepts connections."""
    if kind == "amqtt":
        command = [sys.executable, "-c", AMQTT, str(port), USER, PASSWORD]
    else:
        command = [_mosquitto() or "mosquitto", "-p", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


async def collect(port: int, topic: str, found: list[dict], ready: asyncio.Event, until: Callable[[dict], bool]) -> None:
    """Append each JSON message on `topic` to `found` until one satisfies `until`; `ready` is set
    once subscribed (the gateway's messages before that would be missed)."""
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port, identifier=f"test-listener-{topic}", username=USER,
                              password=PASSWORD) as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async for message in client.messages:
            found.append(json.loads(bytes(message.payload)))
            if until(found[-1]):
                return
