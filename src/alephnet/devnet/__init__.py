"""A whole local network in one command: `alephnet devnet up|status|down`.

`layout` says where things live and on which ports, `processes` starts and stops node
processes, `state` is the state file other terminals read, `status` probes the nodes,
`supervisor` is `devnet up` itself and `control` what `status` and `down` do from elsewhere.
"""
