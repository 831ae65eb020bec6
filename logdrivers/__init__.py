"""Logging drivers: the contract (base), the registry, the copier; one module per driver.

Nothing is registered at import time: `registry.create_driver` looks drivers up through the
`pydock.logdrivers` entry point group, where pydock's own drivers are listed like anyone else's.
"""
