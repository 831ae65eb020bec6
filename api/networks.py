"""Network routes (moby's api/server/router/network): list, inspect, create, remove, prune, connect,
disconnect, over the network room's functions (runtime/network/networks.py)."""

from __future__ import annotations

from typing import Any

from pydock.api.backend import Backend, body_dict
from pydock.api.http import ApiError, Request, Response, Router, json_response


def register(r: Router, b: Backend) -> None:
    from pydock.runtime.network import networks as nw

    s = b.settings

    def list_(req: Request) -> list[dict[str, Any]]:
        from pydock.api.system import parse_filters

        flt = parse_filters(req, ("name", "id", "driver", "label", "type", "scope"))
        out = []
        for n in nw.list_networks(s):
            if "name" in flt and not any(v in n.get("Name", "") for v in flt["name"]):
                continue
            if "id" in flt and not any(n.get("Id", "").startswith(v) for v in flt["id"]):
                continue
            if "driver" in flt and n.get("Driver") not in flt["driver"]:
                continue
            out.append(n)
        return out

    def inspect(req: Request) -> dict[str, Any]:
        return nw.inspect_network(s, req.params["id"])

    def create(req: Request) -> Response:
        body = body_dict(req.json({}), "body")
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "Name: a network name is required")
        for key, value in body.items():
            if key not in ("Name", "Driver", "IPAM", "Internal", "Labels", "CheckDuplicate", "Scope",
                           "EnableIPv4") and value not in (None, "", False, {}, [], "local"):
                raise ApiError(400, f"{key} is not supported by pydock networks (got {value!r})")
        ipam = body_dict(body.get("IPAM"), "IPAM")
        configs = ipam.get("Config") or []
        if len(configs) > 1:
            raise ApiError(400, "IPAM.Config: pydock takes one subnet per network")
        if ipam.get("Driver") not in (None, "", "default"):
            raise ApiError(400, f"IPAM.Driver {ipam['Driver']!r} is not supported by pydock")
        sub = configs[0] if configs else {}
        kwargs: dict[str, Any] = {"driver": body.get("Driver") or "bridge", "subnet": sub.get("Subnet", ""),
                                  "gateway": sub.get("Gateway", "")}
        if body.get("Internal"):
            kwargs["internal"] = True
        if body.get("Labels"):
            kwargs["labels"] = {str(k): str(v) for k, v in body["Labels"].items()}
        rec = nw.create_network(s, name, **kwargs)
        return json_response({"Id": rec["Id"], "Warning": ""}, 201)

    def remove(req: Request) -> Response:
        nw.remove_network(s, req.params["id"])
        return Response(204)

    def prune(req: Request) -> dict[str, Any]:
        return {"NetworksDeleted": nw.prune(s) or None}

    def connect(req: Request) -> Response:
        body = body_dict(req.json({}), "body")
        ep = body_dict(body.get("EndpointConfig"), "EndpointConfig")
        ipam = body_dict(ep.get("IPAMConfig"), "EndpointConfig.IPAMConfig")
        if not body.get("Container"):
            raise ApiError(400, "Container: which container to connect is required")
        nw.connect(s, req.params["id"], str(body["Container"]), tuple(ep.get("Aliases") or ()),
                   str(ipam.get("IPv4Address") or ""))
        return Response(200, b"", "text/plain")

    def disconnect(req: Request) -> Response:
        body = body_dict(req.json({}), "body")
        if not body.get("Container"):
            raise ApiError(400, "Container: which container to disconnect is required")
        nw.disconnect(s, req.params["id"], str(body["Container"]), bool(body.get("Force")))
        return Response(200, b"", "text/plain")

    r.add("GET", "/networks", list_)
    r.add("POST", "/networks/create", create)
    r.add("POST", "/networks/prune", prune)
    r.add("GET", "/networks/{id}", inspect)
    r.add("DELETE", "/networks/{id}", remove)
    r.add("POST", "/networks/{id}/connect", connect)
    r.add("POST", "/networks/{id}/disconnect", disconnect)
