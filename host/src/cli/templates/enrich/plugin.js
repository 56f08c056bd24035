// {{name}}: turns a thin BigCommerce order webhook into the full order. The webhook carries
// only `data: {type: "order", id}`; the plugin asks the store's API for the order and its lines
// and forwards one record. A 404 drops the event (the order is gone); 429 and 5xx ask the
// gateway to try again later.
//
// Config: `api_base` (default https://api.bigcommerce.com) and `access_token`; the plugin's
// `allowed_hosts` must name the API. `npm test` runs it against the answers in fixtures/.
import { config, drop, fail, forwardJson, handler, retryLater } from '@switchyard/plugin-sdk';

async function get(url, token) {
  const response = await fetch(url, { headers: { 'X-Auth-Token': token, Accept: 'application/json' } });
  if (response.status === 429 || response.status >= 500) throw retryLater(`${url} answered ${response.status}`);
  return response;
}

export const handle = handler(async (event) => {
  const body = event.json();
  const data = body.data ?? {};
  if (data.type !== 'order') return [drop('not an order')];
  const store = typeof body.producer === 'string' && body.producer.startsWith('stores/') ? body.producer.slice(7) : null;
  if (!store) throw fail('the webhook\'s producer is not stores/{hash}');
  const api = (config.get('api_base') ?? 'https://api.bigcommerce.com').replace(/\/+$/, '');
  const token = config.get('access_token');
  if (!token) throw fail('config has no access_token');
  const orderUrl = `${api}/stores/${store}/v2/orders/${data.id}`;

  const order = await get(orderUrl, token);
  if (order.status === 404) return [drop(`order ${data.id} no longer exists`)];
  const found = await order.json();
  const lines = await (await get(`${orderUrl}/products?limit=250&page=1`, token)).json();
  const items = (Array.isArray(lines) ? lines : []).map((l) => ({ sku: l.sku, quantity: l.quantity }));
  return [forwardJson({ order_id: found.id, status: found.status, total: found.total_inc_tax, items })];
});
