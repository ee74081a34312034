"""Where a devnet keeps everything, and which ports its nodes listen on.

```
DIR/
  devnet.json      state of the running devnet (pids, ports, URLs, wallet): see `state.py`
  keys/devnet.json the dev wallet (an ETH key file, the key store's default)
  ccn-1/           node 1's data (database, files, libp2p node key)
  ccn-1.toml       node 1's settings: the other nodes as its sync and gossip peers
  ccn-1.log        node 1's output
  ccn-2/ ...
  crn-1/           compute node 1's data (key, file cache, volumes); crn-1.log its output
```

Node i listens on `base_port + i - 1`, so node 1 gets the base port: 4024 by default, the
node the SDK and the CLI talk to when no `--api-url` is given; its libp2p gossip listens
`P2P_PORT_OFFSET` higher (4124). Compute node (CRN) i listens on
`crn_base_port + i - 1` (CRN 1 on 4020, the SDK's default CRN) and uses CCN
`(i - 1) % ccns + 1`.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path(".alephnet/devnet")
DEFAULT_BASE_PORT = 4024
DEFAULT_CCNS = 3
# Compute nodes of a devnet: two, so that programs deploy and run with `./run devnet` alone.
DEFAULT_CRNS = 2
DEFAULT_CRN_BASE_PORT = 4020
HOST = "127.0.0.1"
WALLET_NAME = "devnet"
P2P_PORT_OFFSET = 100
# Disk images of instances are bigger than a CCN's default file limit (100 MiB): the devnet's
# nodes take files up to this, so the instance base image can be stored.
MAX_FILE_SIZE = 1 << 30


@dataclass(frozen=True, slots=True)
class NodeLayout:
    name: str
    port: int
    p2p_port: int
    data_dir: Path
    config_file: Path
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def multiaddr(self) -> str:
        """Where the other nodes reach its gossip. The node key is created if missing, so that
        its peers can name it before it first starts."""
        from alephnet.ccn.p2p.node_key import peer_id_of

        return f"/ip4/{HOST}/tcp/{self.p2p_port}/p2p/{peer_id_of(self.data_dir)}"


@dataclass(frozen=True, slots=True)
class CrnLayout:
    name: str
    port: int
    data_dir: Path
    log_file: Path
    ccn_url: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True, slots=True)
class DevnetLayout:
    root: Path
    ccns: int = DEFAULT_CCNS
    base_port: int = DEFAULT_BASE_PORT
    crns: int = 0
    crn_base_port: int = DEFAULT_CRN_BASE_PORT
    # `sandbox` runs programs only; `microvm` also boots instances (slower, needs the images).
    crn_executor: str = "sandbox"

    @property
    def state_file(self) -> Path:
        return self.root / "devnet.json"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def nodes(self) -> list[NodeLayout]:
        return [self._node(index) for index in range(1, self.ccns + 1)]

    @property
    def crn_nodes(self) -> list[CrnLayout]:
        nodes = self.nodes
        return [
            CrnLayout(
                name=f"crn-{index}",
                port=self.crn_base_port + index - 1,
                data_dir=self.root / f"crn-{index}",
                log_file=self.root / f"crn-{index}.log",
                ccn_url=nodes[(index - 1) % len(nodes)].url,
            )
            for index in range(1, self.crns + 1)
        ]

    @property
    def ports(self) -> list[int]:
        ccn_ports = [port for node in self.nodes for port in (node.port, node.p2p_port)]
        return ccn_ports + [crn.port for crn in self.crn_nodes]

    def shared_ports(self) -> list[int]:
        """Ports given to two nodes (CRN ports running into CCN ports)."""
        ports = self.ports
        return sorted({port for port in ports if ports.count(port) > 1})

    def busy_ports(self) -> list[int]:
        """The nodes' ports something else listens on already: a node would die on them."""
        return [port for port in self.ports if not port_is_free(port)]

    def write_configs(self) -> None:
        """One TOML settings file per node naming every other node as a sync peer and a
        gossip bootstrap peer; rewritten at each start, so a devnet restarted with another
        --ccns has consistent peers."""
        nodes = self.nodes
        for node in nodes:
            node.data_dir.mkdir(parents=True, exist_ok=True)
        for node in nodes:
            others = [other for other in nodes if other.name != node.name]
            node.config_file.write_text(_config_text(node, others))

    def _node(self, index: int) -> NodeLayout:
        name = f"ccn-{index}"
        return NodeLayout(
            name=name,
            port=self.base_port + index - 1,
            p2p_port=self.base_port + P2P_PORT_OFFSET + index - 1,
            data_dir=self.root / name,
            config_file=self.root / f"{name}.toml",
            log_file=self.root / f"{name}.log",
        )


def _config_text(node: NodeLayout, others: list[NodeLayout]) -> str:
    return (
        "# Written by `alephnet devnet up` at each start: edits are lost.\n"
        f"peers = {_toml_list([other.url for other in others])}\n"
        f"p2p = true\np2p_port = {node.p2p_port}\n"
        f"bootstrap_peers = {_toml_list([other.multiaddr for other in others])}\n"
        f"max_file_size = {MAX_FILE_SIZE}\n"
    )


def _toml_list(texts: list[str]) -> str:
    # A JSON string of plain URLs or multiaddrs is a valid TOML basic string: no TOML writer.
    return f"[{', '.join(json.dumps(text) for text in texts)}]"


def port_is_free(port: int) -> bool:
    """Whether a node could listen on `port` of the loopback now."""
    with socket.socket() as probe:
        # As uvicorn does: connections of a node just stopped (TIME_WAIT) do not hold the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True
