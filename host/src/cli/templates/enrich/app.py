"""{{name}}: turns a thin BigCommerce order webhook into the full order.

The webhook carries only ``data: {type: "order", id}``; the plugin asks the store's API for the
order and its lines and forwards one record. A 404 drops the event (the order is gone); 429 and
5xx ask the gateway to try again later.

Config: ``api_base`` (default https://api.bigcommerce.com) and ``access_token``; the plugin's
``allowed_hosts`` must name the API. ``make test`` runs it against the answers in fixtures/.
"""

from switchyard_plugin import Fail, WitWorldBase, config, drop, fetch, forward_json, handler


def get(url, token):
    return fetch(url, headers={"X-Auth-Token": token, "Accept": "application/json"})


class WitWorld(WitWorldBase):
    @handler
    def handle(self, event):
        body = event.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "order":
            return [drop("not an order")]
        producer = body.get("producer") or ""
        if not producer.startswith("stores/"):
            raise Fail("the webhook's producer is not stores/{hash}")
        api = (config.get("api_base") or "https://api.bigcommerce.com").rstrip("/")
        token = config.get("access_token")
        if not token:
            raise Fail("config has no access_token")
        order_url = f"{api}/stores/{producer[len('stores/'):]}/v2/orders/{data.get('id')}"

        order = get(order_url, token)
        if order.status == 404:
            return [drop(f"order {data.get('id')} no longer exists")]
        found = order.retry_on_server_error().json()
        lines = get(f"{order_url}/products?limit=250&page=1", token).retry_on_server_error().json()
        items = [{"sku": line.get("sku"), "quantity": line.get("quantity")} for line in lines or []]
        return [forward_json({
            "order_id": found.get("id"),
            "status": found.get("status"),
            "total": found.get("total_inc_tax"),
            "items": items,
        })]
