// {{name}}: a Switchyard plugin. Build with `npm run build` (plugin.wasm), test with `npm test`.
import { drop, forwardJson, handler, log } from '@switchyard/plugin-sdk';

export const handle = handler((event) => {
  const data = event.json().data ?? {};
  if (data.type !== 'order') return [drop('not an order')];
  log.info(`${event.scope} handled`);
  return [forwardJson({ scope: event.scope, order_id: data.id })];
});
