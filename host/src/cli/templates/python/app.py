"""{{name}}: a Switchyard plugin. Build with `make build` (plugin.wasm), test with `make test`."""

from switchyard_plugin import WitWorldBase, drop, forward_json, handler, log


class WitWorld(WitWorldBase):
    @handler
    def handle(self, event):
        body = event.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "order":
            return [drop("not an order")]
        log.info(f"{event.scope} handled")
        return [forward_json({"scope": event.scope, "order_id": data.get("id")})]
