// Announcing changes on every instance: what tools, application code and `baton notify` use. One
// statement each (the channel's publish); every instance delivers the change to the streams it
// serves (2025 sessions: src/era-2025/streams.ts; 2026 `subscriptions/listen` streams through the
// same topic). A notifier is handed out before its store is open (deferredChanges).
import { CHANGES_TOPIC, type Channel, type ChangeEvent, type ChangeNotifier } from './types.js';

/** A ChangeNotifier usable at once, over one that is made on first use (a platform's, a store's). */
export function deferredChanges(notifier: () => Promise<ChangeNotifier>): ChangeNotifier {
  return {
    toolsChanged: async () => (await notifier()).toolsChanged(),
    promptsChanged: async () => (await notifier()).promptsChanged(),
    resourcesChanged: async () => (await notifier()).resourcesChanged(),
    resourceUpdated: async (uri) => (await notifier()).resourceUpdated(uri),
  };
}

export function changeNotifier(channel: Channel): ChangeNotifier {
  const announce = async (event: ChangeEvent) => {
    await channel.publish(CHANGES_TOPIC, event);
  };
  return {
    toolsChanged: () => announce({ kind: 'tools_list_changed' }),
    promptsChanged: () => announce({ kind: 'prompts_list_changed' }),
    resourcesChanged: () => announce({ kind: 'resources_list_changed' }),
    resourceUpdated: (uri) => {
      if (typeof uri !== 'string' || uri === '')
        return Promise.reject(new TypeError('resourceUpdated: the resource URI must be a non-empty string'));
      return announce({ kind: 'resource_updated', uri });
    },
  };
}
