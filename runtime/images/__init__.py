"""Images: the local store, references, the registry client (distribution API v2), save and load.

The package keeps the names that `pydock.runtime.images` offered as one module, so every import of
`ImageStore`, `Image` and `normalize_ref` keeps working.
"""

from pydock.runtime.images.layout import MAX_METADATA, host_arch
from pydock.runtime.images.reference import normalize_ref
from pydock.runtime.images.store import Image, ImageStore

__all__ = ["MAX_METADATA", "Image", "ImageStore", "host_arch", "normalize_ref"]
