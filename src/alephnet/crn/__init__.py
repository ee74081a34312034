"""The Compute Resource Node: runs PROGRAM and INSTANCE workloads fetched from a CCN.

- `guest/`: what runs inside the VM or sandbox (stdlib only: it must run on a bare Debian
  python3). `guest/frames.py` is the wire format between the supervisor and the guest.
- `executors/`: how a guest is started (`sandbox`: bubblewrap + cgroups on the host; `microvm`:
  QEMU `-M microvm`). They share the interface in `executors/base.py`.
- `supervisor/`: the execution pool, lifecycle, HTTP routing to programs and the CRN API.
"""
