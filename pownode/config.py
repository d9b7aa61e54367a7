"""Node configuration and `pownode init`: keys, genesis and one home folder per node.

A home folder holds `config.json` (addresses, peers, timing), `node.key` (the validator key,
mode 0600) and `chain/` (the LevelDB store). `init` also writes `genesis.json` and, for local
testing, a few funded client keys in `clients/`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Sequence

from ledger.genesis import Genesis
from ledger.keys import PrivateKey, address_of
from pownode.keyfile import read_key, write_key
from vm.compiler import LANGUAGE_VERSION

CONSENSUS_PARAMS = {
    "pbft": {},
    "pos": {"pos_alpha": 1, "pos_beta": 1000, "pos_gamma": 100},
    "poe": {"poe_mode": "argmax", "interval_ms": 900_000, "poe_wh_per_unit": 1000, "block_incentive": 1000,
            "poe_incentive": "RE+TE"},
}


ROLES = ("validator", "full")


@dataclass(frozen=True)
class Peer:
    public_key: str  # hex
    host: str
    port: int


@dataclass(frozen=True)
class NodeConfig:
    name: str
    genesis: str  # path
    key: str  # path
    role: str = "validator"  # or "full": follows and verifies the chain, serves the API, never votes
    listen_host: str = "127.0.0.1"
    listen_port: int = 26656
    # The address other nodes dial this one at, where it listens on all of its own (0.0.0.0):
    # homes made later beside it (`add-validator`, `add-full`) read it; "" = listen_host.
    public_host: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 26657
    peers: tuple[Peer, ...] = field(default_factory=tuple)
    # Dial every validator in `peers`, not only those with larger keys: a validator added to a
    # running network (`pownode add-validator`), whose address the others' configs lack.
    dial_all_peers: bool = False
    view_timeout_ms: int = 2000
    # The view timeout's base follows the measured pace of recent heights up to this (see
    # EngineConfig.max_paced_timeout_ms); 0 = always view_timeout_ms.
    max_paced_timeout_ms: int = 16_000
    block_interval_ms: int = 200
    max_block_txs: int = 5000
    send_queue: int = 10_000  # frames queued per peer
    send_queue_bytes: int = 64 * 1024 * 1024  # bytes queued per peer
    client_tx_per_s: int = 8_000  # per client address on POST /txs, below what a node verifies; 0 = unlimited
    verify_workers: int = 0  # processes verifying signatures in parallel (spare cores); 0 = in the loop
    request_timeout_ms: int = 10_000  # valid transactions starved this long: replace the proposer; 0 = off
    # An idle link sends a keepalive this often; a link silent for 8 intervals is dropped and
    # redialled, so recovery after a partition does not wait on TCP's retransmission backoff.
    keepalive_ms: int = 1000
    # HTTP API bounds: connections per client address and in all (kept below the descriptor
    # limit less what storage and peers need), time to send a request's headers (and to idle
    # between requests), time to send its body.
    api_connections_per_client: int = 64
    api_connections: int = 1024
    api_header_timeout_ms: int = 10_000
    api_body_timeout_ms: int = 30_000

    @classmethod
    def load(cls, home: str | Path) -> "NodeConfig":
        """The home's config.json, every field checked: an unknown field or a wrong type is an
        error naming it (the README's table documents each)."""
        path = Path(home) / "config.json"
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"{home} is not a node home: no config.json") from None
        except ValueError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(doc) - set(known))
        if unknown:
            raise ValueError(f"{path}: unknown fields {unknown} (known: {', '.join(known)})")
        for name in ("name", "genesis", "key"):
            if not isinstance(doc.get(name), str):
                raise ValueError(f"{path}: {name} is required, a string")
        kinds = {"str": (str, "a string"), "int": (int, "an integer"), "bool": (bool, "true or false")}
        for name, value in doc.items():
            want = kinds.get(str(known[name].type))
            if want is not None and type(value) is not want[0]:
                raise ValueError(f"{path}: {name} must be {want[1]}, not {value!r}")
        if doc.get("role", "validator") not in ROLES:
            raise ValueError(f"{path}: role must be one of {', '.join(ROLES)}, not {doc['role']!r}")
        try:
            doc["peers"] = tuple(Peer(str(p["public_key"]), str(p["host"]), int(p["port"])) for p in doc.get("peers", []))
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{path}: peers must be a list of {{public_key, host, port}}") from None
        home = Path(home)
        doc["genesis"] = str((home / doc["genesis"]).resolve())
        doc["key"] = str((home / doc["key"]).resolve())
        return cls(**doc)

    def save(self, home: Path) -> None:
        doc = asdict(self)
        doc["peers"] = [asdict(p) for p in self.peers]
        (home / "config.json").write_text(json.dumps(doc, indent=2) + "\n")


def init_network(out: Path, nodes: int, consensus: str, *, base_port: int = 26600, clients: int = 4,
                 chain_id: str | None = None, genesis_time_ms: int = 1_767_225_600_000,
                 params: dict | None = None, block_interval_ms: int = 200, funded: Sequence[bytes] = (),
                 meter_keys: Sequence[bytes] = (), node_options: dict | None = None,
                 client_meters: bool = False, hosts: Sequence[str] = (),
                 gateway_meters: Sequence[tuple[bytes, bytes]] = ()) -> list[Path]:
    """Create keys, a genesis and `nodes` home folders under `out`; return the homes.

    `funded` addresses get a balance and `meter_keys` become certified meters (benchmark load
    senders); with `client_meters` each client household gets a certified meter of its own
    (`meters/client<i>.key`), so an operator can send readings on any consensus;
    `gateway_meters` are (meter public key, owner address) pairs of households' gateways
    (serials `GW-<i>`, as `cluster_gateways` registers later ones); `node_options`
    are NodeConfig fields set on every node. With `hosts` (one per node), the homes are for
    separate machines (see `write_homes`)."""
    if consensus not in CONSENSUS_PARAMS:
        raise ValueError(f"consensus must be one of {sorted(CONSENSUS_PARAMS)}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: refusing to overwrite keys")
    if nodes < 1:
        raise ValueError(f"--nodes: at least 1 validator, not {nodes}")
    last_port = base_port + (1 if hosts else 2 * nodes - 1)
    if not 0 <= base_port <= last_port <= 65535:
        raise ValueError(f"--base-port {base_port}: the nodes' ports would run from {base_port} to {last_port}, "
                         "outside 0..65535")
    validators = [PrivateKey.generate() for _ in range(nodes)]
    operator = PrivateKey.generate()
    client_keys = [PrivateKey.generate() for _ in range(clients)]
    # Every key file is written only once the genesis holding them is valid: a refused network
    # leaves no folder behind to block the next attempt.
    key_files = {out / "operator.key": operator}
    key_files |= {out / "clients" / f"client{i}.key": key for i, key in enumerate(client_keys)}
    meters = []
    if consensus == "poe":  # each validator is a prosumer with a certified meter of its own
        for i, v in enumerate(validators):
            meter = key_files[out / "meters" / f"meter{i}.key"] = PrivateKey.generate()
            meters.append({"public_key": meter.public_key.hex(), "meter_type": "smart-meter",
                           "serial": f"SM-{i:05d}", "owner": v.address.hex()})
    for i, client in enumerate(client_keys if client_meters else []):
        meter = key_files[out / "meters" / f"client{i}.key"] = PrivateKey.generate()
        meters.append({"public_key": meter.public_key.hex(), "meter_type": "smart-meter",
                       "serial": f"HH-{i:05d}", "owner": client.address.hex()})
    meters += [{"public_key": k.hex(), "meter_type": "smart-meter", "serial": f"LOAD-{i:06d}", "owner": address_of(k).hex()}
               for i, k in enumerate(meter_keys)]
    meters += [{"public_key": k.hex(), "meter_type": "smart-meter", "serial": f"GW-{i:05d}", "owner": owner.hex()}
               for i, (k, owner) in enumerate(gateway_meters)]
    genesis = Genesis.from_json({
        "chain_id": chain_id or default_chain_id(consensus),
        "genesis_time_ms": genesis_time_ms,
        "operator": operator.public_key.hex(),
        "min_fee": 1,
        "validators": [{"name": f"node{i}", "public_key": v.public_key.hex(), "power": 1}
                       for i, v in enumerate(validators)],
        "balances": [{"address": k.address.hex(), "amount": 10**15} for k in client_keys + [operator]]
                    + [{"address": a.hex(), "amount": 10**12} for a in funded],
        "meters": meters,
        "consensus": consensus,
        "params": {"vm_language": LANGUAGE_VERSION, **CONSENSUS_PARAMS[consensus], **(params or {})},
    })
    out.mkdir(parents=True, exist_ok=True)
    for path, key in key_files.items():
        write_key(path, key)
    return write_homes(out, genesis, validators, base_port=base_port, block_interval_ms=block_interval_ms,
                       node_options=node_options, hosts=hosts)


def default_chain_id(consensus: str) -> str:
    """A network's chain id when its operator names none: `pownode-<consensus>-` and 8 random hex
    digits. Signatures cover the chain id, so two networks made apart never share one: a
    transaction signed for one (by a key funded on both) cannot be replayed on the other."""
    return f"pownode-{consensus}-{secrets.token_hex(4)}"


def write_homes(out: Path, genesis: Genesis, validators: Sequence[PrivateKey], *, base_port: int,
                block_interval_ms: int = 200, node_options: dict | None = None,
                hosts: Sequence[str] = ()) -> list[Path]:
    """`genesis.json` and one home per validator key under `out`; return the homes.

    Without `hosts`, every node runs on loopback: node i's P2P on base_port + 2i, its API on
    base_port + 2i + 1. With `hosts` (one per node, each node on its own machine), every node
    uses the same ports: it accepts peers on all its addresses at base_port, dials the others
    at their host's base_port, and serves its API on 127.0.0.1 at base_port + 1 (set `api_host`
    in its config.json to expose it)."""
    if hosts and len(hosts) != len(validators):
        raise ValueError(f"{len(hosts)} hosts for {len(validators)} nodes: give one host per node")
    genesis.save(out / "genesis.json")
    homes = []
    for i, key in enumerate(validators):
        home = out / f"node{i}"
        home.mkdir()
        write_key(home / "node.key", key)
        if hosts:
            peers = tuple(Peer(v.public_key.hex(), hosts[j], base_port) for j, v in enumerate(validators) if j != i)
            where = {"listen_host": "0.0.0.0", "public_host": hosts[i], "listen_port": base_port,
                     "api_port": base_port + 1}
        else:
            peers = tuple(Peer(v.public_key.hex(), "127.0.0.1", base_port + 2 * j)
                          for j, v in enumerate(validators) if j != i)
            where = {"listen_port": base_port + 2 * i, "api_port": base_port + 2 * i + 1}
        NodeConfig(name=f"node{i}", genesis="../genesis.json", key="node.key", peers=peers,
                   block_interval_ms=block_interval_ms, **where, **(node_options or {})).save(home)
        homes.append(home)
    return homes


def _validator_peers(out: Path, adding: str) -> tuple[list[NodeConfig], tuple[Peer, ...]]:
    """The configs of a network's validator homes (`node<i>/`), and each validator as a peer at
    the address the other validators dial it at (a lone or added validator: its own)."""
    validators = [NodeConfig.load(h) for h in sorted(out.glob("node*")) if (h / "config.json").is_file()]
    if not validators:
        raise ValueError(f"{out} has no validator homes (node<i>/) to add {adding} beside")
    dialled = {p.public_key: p for c in validators for p in c.peers}  # how the others reach each validator
    peers = []
    for c in validators:
        key = read_key(Path(c.key)).public_key.hex()
        peers.append(dialled.get(key) or Peer(key, c.public_host or c.listen_host, c.listen_port))
    return validators, tuple(peers)


def add_validator_home(out: Path, host: str = "") -> Path:
    """One more validator home (`node<i>`, after the highest) beside a network's; return it.

    It holds a new key and dials every validator (`dial_all_peers`: their configs lack its
    address, and they accept a member they cannot dial), so no other node is reconfigured or
    restarted; its timing and bounds are node0's. On loopback its ports follow the last ones
    the network's homes use; in a network across machines (`init --hosts`) it listens on the
    validators' ports, on a machine of its own, whose address (`host`) homes made after it dial.
    It is a validator once the operator's `SetValidator` for its key commits."""
    validators, peers = _validator_peers(out, "a validator")
    taken = [int(h.name[4:]) for h in out.glob("node*") if h.name[4:].isdigit()]
    home = out / f"node{max(taken) + 1}"
    first = validators[0]
    if all(c.listen_host == "0.0.0.0" and c.listen_port == first.listen_port for c in validators):
        if not host:
            raise ValueError("--host: the address of the new validator's machine (the network's validators are on "
                             "machines of their own; nodes added later dial it there)")
        where = {"listen_host": "0.0.0.0", "public_host": host, "listen_port": first.listen_port,
                 "api_port": first.api_port}
    else:
        if host:
            raise ValueError("--host: this network runs on loopback (made without `init --hosts`); its nodes "
                             "need no address")
        homes = [h for h in (*out.glob("node*"), *out.glob("full*")) if (h / "config.json").is_file()]
        used = [port for c in map(NodeConfig.load, homes) for port in (c.listen_port, c.api_port)]
        where = {"listen_port": max(used) + 1, "api_port": max(used) + 2}
    home.mkdir()
    write_key(home / "node.key", PrivateKey.generate())
    replace(first, name=home.name, genesis="../genesis.json", key="node.key", peers=peers, dial_all_peers=True,
            **where).save(home)
    return home


def add_full_homes(out: Path, count: int) -> list[Path]:
    """`count` more full-node homes (`full<i>`) beside a network's validator homes (as `init` made
    them, on loopback or with `--hosts`); return them. Each dials every validator at the address
    the other validators dial it at; its own ports follow the last node's. The validators accept a
    full node only once the operator admits its key on chain (`AdmitNode`)."""
    validators, peers = _validator_peers(out, "full nodes")
    taken = [int(h.name[4:]) for h in out.glob("full*") if h.name[4:].isdigit()]
    existing = max(taken) + 1 if taken else 0  # after the highest, even if one was deleted
    port = max(c.api_port for c in validators) + 2 * existing + 1  # a listen port no one dials, then the API
    homes = []
    for i in range(existing, existing + count):
        home = out / f"full{i}"
        home.mkdir()
        write_key(home / "node.key", PrivateKey.generate())
        NodeConfig(name=f"full{i}", genesis="../genesis.json", key="node.key", role="full", peers=peers,
                   listen_port=port, api_port=port + 1).save(home)
        port += 2
        homes.append(home)
    return homes
