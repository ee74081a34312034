"""The supervisor: fetches programs and instances from the CCN, runs them through an executor,
routes HTTP requests to programs and serves the CRN API.

- `errors`: what can go wrong serving a program, each with its HTTP status.
- `ccn_source`: messages and files from the CCN, `use_latest` amends, the file cache.
- `vm_message`: what PROGRAMs and INSTANCEs share: the message checked, its volumes' specs.
- `program_spec`: a PROGRAM message's content turned into an `ExecutionSpec`.
- `execution`: one running program (timestamps, concurrency, expiry, logs).
- `pool`: one execution per program hash; start, reuse, expiry, persistent restarts, stop.
- `instance_spec`, `instance_execution`, `instances`: INSTANCEs (whole VMs reached over SSH):
  the spec, one running VM, and the manager (notify, allocations, restarts, owner operations).
- `restarts`, `allocation_file`: restarting what must keep running; the saved sets of it.
- `capacity`: admission of a new execution against the node's memory and vCPUs.
- `proxy`: an HTTP request turned into an ASGI scope for the guest, and its answer back.
- `routing`: which program a request is for (`/vm/{hash}` or `{label}.vm.{domain}`).
- `node_key`, `runtime`, `self_check`: the node's identity, its published runtime, its
  self-test.
- `api/`: the CRN's HTTP API, one module per area.
"""
