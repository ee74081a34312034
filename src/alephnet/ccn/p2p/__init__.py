"""Gossip between CCNs: a small interface (`interface.py`), its libp2p gossipsub
implementation on a trio thread of its own (`libp2p_gossip.py`, with our overrides of
py-libp2p's pubsub in `libp2p_pubsub.py`, and `bridge.py`), and the node's side (`service.py`).
The protocol and its tuning are described in docs/p2p.md.
"""
