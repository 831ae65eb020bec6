"""Container security: seccomp profiles, capabilities, devices, recursive read-only mounts, sysctls,
user namespaces (userns.py: ids and start; idmapped.py: the rootfs; mountapi.py: the new mount API).

Each concern is one module; container_init calls them with a few lines between fork and exec, and
`options.py` turns Docker's flags (`--cap-add`, `--security-opt`, `--device`, ...) into the
HostConfig keys the record keeps and the `SecurityConfig` the container's init applies.
"""
