// The SDK v2's ServerEventBus over the platform's channel: a `subscriptions/listen` stream held
// on one instance hears of a change announced on any instance (`ctx.changes`, `platform.changes`,
// `baton notify`), exactly as the 2025 sessions' GET streams do. The change events on the channel
// already have the SDK's ServerEvent shape (src/store/channel/types.ts).
import type { ServerEvent, ServerEventBus } from '@modelcontextprotocol/server';
import { CHANGES_TOPIC, type Channel, type Json } from '../store/channel/types.js';
import { errorText, type Logger } from '../log.js';

export function channelEventBus(channel: Channel, logger: Logger): ServerEventBus {
  return {
    publish(event) {
      channel.publish(CHANGES_TOPIC, event as unknown as Json).catch((error: unknown) => {
        logger.warn('a change could not be announced', { kind: event.kind, error: errorText(error) });
      });
    },
    // One subscription per open listen stream, made in that stream's request (Workers run a
    // polling channel's timers in the request that subscribed).
    subscribe(listener) {
      const subscription = channel.subscribe(CHANGES_TOPIC, (message) => listener(message.payload as unknown as ServerEvent));
      return () => subscription.unsubscribe();
    },
  };
}
