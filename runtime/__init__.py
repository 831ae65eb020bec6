"""The container runtime: records and state, images, rootfs, namespaces, cgroups, the shim, lifecycle."""
