"""The build cache: which stored image a build step made from a given parent, as the classic builder
finds it.

A step's key is the sha256 of its parent image id, its instruction text after substitution, the
build args in scope (for RUN, which sees them as environment) and, for COPY and ADD, the content
hash of the sources. The index `images/buildcache.json` maps keys to image ids: intermediate images
are kept untagged in the store, as Docker's classic builder keeps them (`pydock image prune` removes
them, and with them their entries, which a lookup then finds stale and ignores). The index is
written only when a build succeeds, under the image store's lock.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydock.runtime.atomic import read_json, write_json
from pydock.runtime.images.store import ImageStore

from pydock.errors import NotFoundError

INDEX = "buildcache.json"


def step_key(parent: str, text: str, args: dict[str, str], content: str = "") -> str:
    blob = json.dumps([parent, text, sorted(args.items()), content], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()


class BuildCache:
    def __init__(self, store: ImageStore, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        self.path = Path(store.root) / INDEX
        self.new: dict[str, str] = {}
        try:
            self.entries: dict[str, str] = dict(read_json(self.path))
        except (FileNotFoundError, ValueError):
            self.entries = {}

    def get(self, key: str) -> str | None:
        """The image a step with this key made, if it is still stored."""
        if not self.enabled:
            return None
        image_id = self.new.get(key) or self.entries.get(key)
        if image_id is None:
            return None
        try:
            self.store.get(image_id)
        except NotFoundError:
            return None
        return image_id

    def put(self, key: str, image_id: str) -> None:
        self.new[key] = image_id

    def commit(self) -> None:
        """Writes this build's entries (and drops those whose image is gone). Caller holds the store lock."""
        if not self.new:
            return
        try:
            entries = dict(read_json(self.path))
        except (FileNotFoundError, ValueError):
            entries = {}
        entries.update(self.new)
        stored = {p.stem for p in self.store.configs.glob("*.json")}
        write_json(self.path, {k: v for k, v in entries.items() if v.split(":", 1)[1] in stored})
