// Reshapes a BigCommerce order webhook into the flat document an ERP import expects: the
// TypeScript twin of plugins/examples/order-to-erp (Rust), producing exactly what it produces.
//
// Config: `currency` (default "USD") is stamped on every record. Events that are not about an
// order are dropped with a reason, so a broad route (`store/**`) can point here safely.

import { config, drop, forwardJson, handler, log } from '@switchyard/plugin-sdk';

export const handle = handler((event) => {
  const body = event.json();
  const orderId = orderIdOf(body);
  if (orderId === undefined) {
    return [drop(`${event.scope} carries no order id`)];
  }
  const change = event.scope.split(/[/.]/).pop() ?? '';
  const producer = typeof body?.producer === 'string' ? body.producer : undefined;
  const storeHash = producer?.startsWith('stores/') ? producer.slice('stores/'.length) : null;
  const record = {
    record_type: 'sales_order',
    change,
    order_number: orderId,
    store_id: text(body?.store_id) ?? null,
    store_hash: storeHash,
    currency: config.get('currency') ?? 'USD',
    status_id: body?.data?.status?.new_status_id ?? null,
    occurred_at: body?.created_at ?? null,
    source_event_id: event.id,
    dedup_hash: body?.hash ?? null,
  };
  log.debug(`order ${orderId} ${change} reshaped for the ERP`);
  return [forwardJson(record)];
});

/** The order id: `data.id` for order events, `data.order_id` for transactions and channel orders. */
function orderIdOf(body: any): string | undefined {
  const data = body?.data;
  return text(data?.type === 'order' ? data?.id : data?.order_id);
}

/** BigCommerce sends ids as numbers in some events and strings in others. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}
