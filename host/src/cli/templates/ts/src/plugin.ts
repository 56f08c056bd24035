// {{name}}: a Switchyard plugin. Build with `npm run build` (plugin.wasm), test with `npm test`.
import { drop, forwardJson, handler, log, type Event } from '@switchyard/plugin-sdk';

interface Webhook {
  data?: { type?: string; id?: number | string };
}

export const handle = handler((event: Event) => {
  const data = (event.json() as Webhook).data ?? {};
  if (data.type !== 'order') return [drop('not an order')];
  log.info(`${event.scope} handled`);
  return [forwardJson({ scope: event.scope, order_id: data.id })];
});
