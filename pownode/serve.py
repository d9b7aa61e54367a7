"""`pownode run`: one node and its API in one asyncio loop, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from pownode.api import make_app
from pownode.config import NodeConfig
from pownode.node import Node


async def serve(home: Path) -> None:
    config = NodeConfig.load(home)
    node = Node(config, home)
    await node.start()
    runner = web.AppRunner(make_app(node), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.api_host, config.api_port).start()
    logging.getLogger("pownode").info("%s API on http://%s:%d", config.name, config.api_host, config.api_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await node.stop()


def run(home: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(home))
