"""Reshapes a BigCommerce order webhook into the flat document an ERP import expects: the Python
twin of plugins/examples/order-to-erp (Rust), producing exactly what it produces.

Config: ``currency`` (default "USD") is stamped on every record. Events that are not about an
order are dropped with a reason, so a broad route (``store/**``) can point here safely.
"""

import re

from switchyard_plugin import WitWorldBase, config, drop, forward_json, handler, log


class WitWorld(WitWorldBase):
    @handler
    def handle(self, event):
        body = event.json()
        order_id = order_id_of(body)
        if order_id is None:
            return [drop(f"{event.scope} carries no order id")]
        change = re.split(r"[/.]", event.scope)[-1]
        producer = field(body, "producer")
        store_hash = producer[len("stores/"):] if isinstance(producer, str) and producer.startswith("stores/") else None
        record = {
            "record_type": "sales_order",
            "change": change,
            "order_number": order_id,
            "store_id": text(field(body, "store_id")),
            "store_hash": store_hash,
            "currency": config.get("currency") or "USD",
            "status_id": field(field(field(body, "data"), "status"), "new_status_id"),
            "occurred_at": field(body, "created_at"),
            "source_event_id": event.id,
            "dedup_hash": field(body, "hash"),
        }
        log.debug(f"order {order_id} {change} reshaped for the ERP")
        return [forward_json(record)]


def field(value, name):
    """``value[name]`` when value is an object, else None (as JSON indexing does in Rust)."""
    return value.get(name) if isinstance(value, dict) else None


def order_id_of(body):
    """The order id: ``data.id`` for order events, ``data.order_id`` for transactions."""
    data = field(body, "data")
    return text(field(data, "id") if field(data, "type") == "order" else field(data, "order_id"))


def text(value):
    """BigCommerce sends ids as numbers in some events and strings in others."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None
