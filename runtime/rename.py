"""`rename`: a container's new name, checked and claimed under the same lock `create` claims names
under (so a concurrent `run --name` never takes it twice). Used by the Engine API's
`POST /containers/{id}/rename`."""

from __future__ import annotations

from pydock.runtime.atomic import Lock, read_json, write_json
from pydock.runtime.events import emit_for
from pydock.runtime.store import ContainerRecord, ContainerStore

from pydock.errors import ConflictError
from pydock.settings import Settings


def rename(settings: Settings, ref: str, new_name: str) -> ContainerRecord:
    from pydock.runtime.spec import check_name

    name = check_name(new_name)
    store = ContainerStore(settings.root)
    with Lock(settings.root / "containers.lock"):
        rec = store.get(ref)
        if rec.name == name:
            raise ConflictError(f"Renaming a container with the same name as its current name: {name}")
        for other in store.list():
            if other.name == name:
                raise ConflictError(f'Conflict. The container name "/{name}" is already in use by container '
                                    f'"{other.id}". You have to remove (or rename) that container to be able '
                                    "to reuse that name.")
        config = read_json(rec.dir / "config.json")
        old = config["Name"]
        config["Name"] = name
        write_json(rec.dir / "config.json", config)
    renamed = store.get(rec.id)
    emit_for(settings.root, "rename", renamed, oldName="/" + old)
    return renamed
