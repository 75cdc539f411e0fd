// The channel between instances as metrics: how long a message took from its publish (the
// store's clock stamps it) to its delivery here (this instance's clock), by topic kind and
// wake-up. A resumed subscription's first read delivers older messages, which count at their age.
import { instruments } from './instruments.js';

/** A message stamped `atMicros` (store clock, microseconds) was delivered to this instance's listeners. */
export function channelDelivered(topic: string, atMicros: number, wakeup: string): void {
  const colon = topic.indexOf(':');
  instruments().deliveryLag.record(Math.max(0, Date.now() * 1000 - atMicros) / 1_000_000, {
    'baton.channel.topic': colon > 0 ? topic.slice(0, colon) : topic,
    'baton.channel.wakeup': wakeup,
  });
}
