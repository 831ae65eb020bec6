"""Images: the local store, references, the registry client (distribution API v2), save and load.

The package keeps the names that `pydock.runtime.images` offered as one module, so every import of
`ImageStore`, `Image` and `normalize_ref` keeps working. The registry side lives in its modules and
is imported from them (`from pydock.runtime.images.pull import pull`), so commands that only read
the store never load httpx. Signatures: docs/images.md.
"""

from pydock.runtime.images.layout import MAX_METADATA, host_arch
from pydock.runtime.images.reference import Reference, normalize_ref, parse
from pydock.runtime.images.store import Image, ImageStore

__all__ = ["MAX_METADATA", "Image", "ImageStore", "Reference", "host_arch", "normalize_ref", "parse"]
