// A JavaScript plugin for the host's tests of `instances = "reuse"`: it must never ship in a
// routes.toml. It counts the events its instance has handled in a module-level variable and
// forwards `{"n": count}`; a body with `"mode": "trap"` throws a JavaScript Error out of
// `handle`, which traps the instance (an unwrapped exception is not a plugin error).
import { forwardJson } from '@switchyard/plugin-sdk';

let handled = 0;

export function handle(event) {
  handled += 1;
  const body = JSON.parse(new TextDecoder().decode(event.body));
  if (body.mode === 'trap') {
    throw new Error('counter plugin traps on purpose');
  }
  return [forwardJson({ n: handled })];
}
