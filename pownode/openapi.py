"""The OpenAPI 3 description of the node's HTTP API, served at /openapi.json.

A test checks that every route the server registers is described here and nothing else is.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"description": "client error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: dict[str, Any] | None = None, media: str = "application/json") -> dict:
    content = {media: {"schema": schema or {"type": "object"}}}
    return {"200": {"description": description, "content": content}}


def _path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _query_param(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": {"type": "integer"}}


_key_after = {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "the last meter key of the previous page, hex"}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "pownode node API", "version": "0.1.0",
             "description": "Status, transactions, blocks, accounts, markets and metrics of one pownode node."},
    "paths": {
        "/status": {"get": {"summary": "Node status: chain, height, peers, mempool, throughput",
                            "responses": _ok("status", {"$ref": "#/components/schemas/Status"})}},
        "/health": {"get": {"summary": "Whether this node reaches the validators it needs: a validator a "
                                       "quorum's voting power (itself included), a full node more than a third",
                            "responses": {**_ok("healthy: status ok, height, peers, the voting power reached, the "
                                                "quorum and the power this node needs"),
                                          "503": {"description": "unhealthy, with the reason and the same figures"}}}},
        "/validators": {"get": {"summary": "The validator set at the head: public key, address, voting power, and "
                                           "whether this node is connected to it",
                                "responses": _ok("height and validators")}},
        "/contracts": {"get": {
            "summary": "Deployed contracts in address order: deployer, stored code size, whether a certified "
                       "market; a page at a time",
            "parameters": [{"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "the last address of the previous page"},
                           {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"},
                            "description": "1..64 (default 64)"}],
            "responses": {**_ok("contracts, and `more` when a further page may exist"), "400": _ERROR}}},
        "/genesis": {"get": {"summary": "The network's genesis document, as in genesis.json",
                             "responses": _ok("the genesis")}},
        "/txs": {"post": {
            "summary": "Submit a batch of encoded signed transactions. `accepted` means admitted to this node's "
                       "memory, not durable (`durable: false`); with ?wait=commit the answer comes once each "
                       "accepted transaction is committed (`durable: true`, with its height) or timeout_s passes",
            "parameters": [{"name": "wait", "in": "query", "required": False, "schema": {"type": "string",
                                                                                        "enum": ["commit"]},
                            "description": "answer only once the accepted transactions are committed"},
                           {"name": "timeout_s", "in": "query", "required": False, "schema": {"type": "integer"},
                            "description": "with wait=commit: seconds to wait, 1..120 (default 30)"}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["txs"],
                "properties": {"txs": {"type": "array", "minItems": 1, "maxItems": 10000,
                                       "items": {"type": "string", "description": "hex of a canonical transaction"}}}}}}},
            "responses": {**_ok("per-transaction acceptance, with the reason for each rejection"), "400": _ERROR,
                          "408": _ERROR, "411": _ERROR, "413": _ERROR,
                          "429": _ERROR | {"description": "over this client's submission rate: "
                                                          "retry after `retry_after_s` (also a Retry-After header)"},
                          "503": _ERROR | {"description": "the node's admission queues are full: retry shortly"}}}},
        "/txs/{hash}": {"get": {"summary": "Where a transaction is: pending, committed (with receipt) or unknown",
                                "parameters": [_path_param("hash", "32-byte transaction hash, hex")],
                                "responses": {**_ok("pending or committed"), "400": _ERROR, "404": _ERROR}}},
        "/blocks/{height}": {"get": {"summary": "A committed block by height, or `latest`",
                                     "parameters": [_path_param("height", "a height or `latest`")],
                                     "responses": {**_ok("header, transaction hashes and certificate"), "400": _ERROR,
                                                   "404": _ERROR,
                                                   "429": _ERROR | {"description": "over this client's (or all "
                                                                    "clients') budget of transactions listed"}}}},
        "/blocks/{height}/validator-changes": {"get": {
            "summary": "Proofs of a block's SetValidator transactions and receipts, for a light client to follow the "
                       "validator set",
            "parameters": [_path_param("height", "a height")],
            "responses": {**_ok("height and transaction proofs"), "400": _ERROR, "404": _ERROR}}},
        "/headers": {"get": {
            "summary": "Encoded headers with their commit certificates, for a light client",
            "parameters": [{"name": "from", "in": "query", "required": False, "schema": {"type": "integer"},
                            "description": "the first height (default 1)"},
                           {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"},
                            "description": "headers at most, up to 256 (the default)"}],
            "responses": {**_ok("the headers, hex"), "400": _ERROR}}},
        "/proofs/tx/{hash}": {"get": {
            "summary": "A committed transaction and its receipt with their merkle paths to the header's roots",
            "parameters": [_path_param("hash", "32-byte transaction hash, hex")],
            "responses": {**_ok("the proof"), "400": _ERROR, "404": _ERROR}}},
        "/proofs/state/{key}": {"get": {
            "summary": "A state key's entry, or its absence, at the head, with the proof to the header's state root",
            "parameters": [_path_param("key", "the state key, hex (1 to 1024 bytes)")],
            "responses": {**_ok("the head's height and the proof"), "400": _ERROR,
                          "413": _ERROR | {"description": "the proof (the key's value, its sub-bucket's other keys "
                                                          "and digests) passes 1 MiB: none is served for it"},
                          "503": _ERROR | {"description": "a block is being committed: ask again"}}}},
        "/accounts/{address}": {"get": {"summary": "Balance and nonce of an account",
                                        "parameters": [_path_param("address", "20-byte address, hex")],
                                        "responses": {**_ok("the account"), "400": _ERROR}}},
        "/market/{contract}": {"get": {
            "summary": "A P2P market contract (or the main contract owning one): parameters, current and open "
                       "windows, the utility's credit, members with credit, debt and what they are owed",
            "parameters": [_path_param("contract", "20-byte contract address, hex"),
                           {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer"},
                            "description": "members to skip (default 0, at most 16384; 1024 per page)"},
                           {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "list the members after this address, hex (the last of the previous page)"}],
            "responses": {**_ok("the market; `more` when a further page of members may exist"), "400": _ERROR,
                          "404": _ERROR}}},
        "/market/{contract}/windows/{window}": {"get": {
            "summary": "One forward window: status (not-yet-open, open, closed, clearing, cleared, settled), "
                       "totals, orders, clearing result, trades and real-time settlements",
            "parameters": [_path_param("contract", "20-byte contract address, hex"),
                           _path_param("window", "window number: the settlement interval it delivers in"),
                           {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer"},
                            "description": "first order, trade and settlement to list (default 0, at most 16384)"},
                           {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"},
                            "description": "orders, trades and settlements to list, 1..1024 (default 1024)"}],
            "responses": {**_ok("the window"), "400": _ERROR, "404": _ERROR}}},
        "/aggregator/{contract}/obligations/{owner}": {"get": {
            "summary": "What an owner's accepted orders in an aggregator's closed (or settled) rounds oblige it to "
                       "export or import, per delivery interval: its battery's set-points. One page of rounds at a "
                       "time, in round-key order",
            "parameters": [_path_param("contract", "20-byte aggregator contract address, hex"),
                           _path_param("owner", "20-byte address of the household, hex"),
                           _query_param("from", "the first delivery interval to list (default 0)"),
                           _query_param("after", "the previous page's `last_round`"),
                           _query_param("limit", "rounds to scan, 1..64 (default 64)")],
            "responses": {**_ok("intervals with export_wh, import_wh and the rounds; `last_round`, and `more` when "
                                "a further page may exist (a page ends early, after fewer rounds, rather than read "
                                "more than 1,024 accepted orders)"), "400": _ERROR, "404": _ERROR}}},
        "/ces/{contract}": {"get": {
            "summary": "004's CES incentives contract: operator, reconciliation period, raise threshold, utility, the "
                       "incentive budget and the escrows held, whether the network operator certified it (it makes, "
                       "accepts and pays offers only then), and the chain's current interval, day and period",
            "parameters": [_path_param("contract", "20-byte CES incentives contract address, hex")],
            "responses": {**_ok("the contract"), "400": _ERROR, "404": _ERROR}}},
        "/ces/{contract}/offers/{address}": {"get": {
            "summary": "The incentive offers addressed to a participant, newest first: each with its interval (and the "
                       "calendar time it starts), energy, DLMP and incentive, state (open, accepted, refused, "
                       "supplemented, expired, reconciled), whether it can still be answered, what was delivered "
                       "and paid, and the `accept` and `refuse` contract calls to sign and post to /txs",
            "parameters": [_path_param("contract", "20-byte CES incentives contract address, hex"),
                           _path_param("address", "20-byte participant address, hex"),
                           _query_param("before", "list offers with a sequence number below this: the previous "
                                                  "page's `next`"),
                           _query_param("limit", "offers per page, 1..64 (default 64)")],
            "responses": {**_ok("offers, and `next` when a further page may exist"), "400": _ERROR,
                          "404": _ERROR}}},
        "/ces/{contract}/equilibrium/{day}/{address}": {"get": {
            "summary": "A participant's CES-OPF set-points for a day (net export Wh per interval) with the sha256 of "
                       "the solver's inputs, its bus and the preferences it posted",
            "parameters": [_path_param("contract", "20-byte CES incentives contract address, hex"),
                           _path_param("day", "the day, counted from interval 0's calendar start"),
                           _path_param("address", "20-byte participant address, hex")],
            "responses": {**_ok("the equilibrium"), "400": _ERROR, "404": _ERROR}}},
        "/election": {"get": {
            "summary": "Who proposes the next block and why: the validators in ranking order for the next height, each "
                       "with its power, whether leader reputation demotes it, and its module's figures (PoS: W and U; "
                       "PoE: CPF in ppm over the settled interval)",
            "responses": _ok("consensus, the next height, the ranking")}},
        "/meters": {"get": {
            "summary": "Certified meters in public-key order: type, serial, owner, the first interval each may report; "
                       "a page at a time",
            "parameters": [_key_after, _query_param("limit", "1..64 (default 64)")],
            "responses": {**_ok("meters, and `more` when a further page may exist"), "400": _ERROR}}},
        "/meters/revoked": {"get": {
            "summary": "Withdrawn meter keys and the height each was withdrawn at; a page at a time",
            "parameters": [_key_after, _query_param("limit", "1..64 (default 64)")],
            "responses": {**_ok("revoked keys, and `more` when a further page may exist"), "400": _ERROR}}},
        "/readings/{interval}": {"get": {
            "summary": "The certified readings of one settlement interval, by meter key; a page at a time",
            "parameters": [_path_param("interval", "the settlement interval"), _key_after,
                           _query_param("limit", "1..64 (default 64)")],
            "responses": {**_ok("the interval's readings: meter, owner, produced_wh, consumed_wh; `more`"),
                          "400": _ERROR}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": _ok("text exposition format",
                                                                                {"type": "string"}, "text/plain")}},
        "/ws": {"get": {"summary": "WebSocket stream: one JSON message per committed block (its transaction hashes), "
                                   "then one per contract event in it (a market's `cleared` is its result)",
                        "responses": {"101": {"description": "switching protocols"}}}},
        "/": {"get": {"summary": "The dashboard (HTML): overview, explorer and meters pages over this API",
                      "responses": _ok("the page", {"type": "string"}, "text/html")}},
        "/dashboard/{name}": {"get": {"summary": "The dashboard's scripts and style sheets",
                                      "parameters": [_path_param("name", "a file of the dashboard, e.g. app.js")],
                                      "responses": {**_ok("the file", {"type": "string"}, "text/plain"),
                                                    "404": _ERROR}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": _ok("OpenAPI 3 document")}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Status": {"type": "object", "properties": {
            "chain_id": {"type": "string"}, "node_id": {"type": "string"}, "consensus": {"type": "string"},
            "role": {"type": "string", "enum": ["validator", "full"]},
            "view": {"type": ["integer", "null"], "description": "consensus view; null on a full node"},
            "height": {"type": "integer"}, "last_block_hash": {"type": "string"}, "peers": {"type": "array"},
            "mempool": {"type": "integer"}, "tx_per_s": {"type": "number"}}},
    }},
}
