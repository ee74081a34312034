"""Gossip between CCNs: a small interface (`interface.py`), its libp2p gossipsub
implementation on a trio thread of its own (`libp2p_gossip.py`, `bridge.py`), and the node's side
(`service.py`). The protocol and its tuning are described in docs/p2p.md.
"""
