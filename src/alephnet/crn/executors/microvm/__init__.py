"""The `microvm` executor: each program in its own QEMU `-M microvm` virtual machine.

- `images`: the kernel, our initramfs (`init.sh` as PID 1) and the runtime rootfs squashfs.
- `accelerator`: whether KVM boots our kernel here (probed once, cached), else TCG.
- `disks`: the program's code and volumes as virtio block devices.
- `qemu`: the QEMU command line.
- `executor`: `MicroVMExecutor.start()` and the running `MicroVMExecution`.
- `instance_image`: the base image of instances (Debian with sshd, raw ext4).
- `instance_disks`, `instance`: `MicroVMExecutor.start_instance()` and `MicroVMInstance`.
"""

from alephnet.crn.executors.microvm.executor import MicroVMExecution, MicroVMExecutor
from alephnet.crn.executors.microvm.images import RuntimeImageMissing, runtime_rootfs
from alephnet.crn.executors.microvm.instance import MicroVMInstance
from alephnet.crn.executors.microvm.instance_image import InstanceImageMissing, instance_rootfs

__all__ = [
    "InstanceImageMissing",
    "MicroVMExecution",
    "MicroVMExecutor",
    "MicroVMInstance",
    "RuntimeImageMissing",
    "instance_rootfs",
    "runtime_rootfs",
]
