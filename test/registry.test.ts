// The per-request server offers exactly what the enabled toolsets provide.
import { expect, it } from 'vitest';
import { z } from 'zod';
import { Registry } from '../src/core/registry.js';
import { createPlatform } from '../src/platform/platform.js';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { defineTool, text } from '../src/core/define.js';
import { TOOLSET_FACTORIES } from '../src/tools/index.js';
import { RawSession } from './helpers/mcp.js';

it('serves a toolset with tools only: no prompt or resource capability, tools work', async () => {
  const echo = defineTool({ name: 'echo', description: 'Echoes', input: { say: z.string() }, handler: ({ say }) => text(say) });
  const onlyTools = { name: 'only_tools', description: 'test', tools: [echo] };
  TOOLSET_FACTORIES.only_tools = () => onlyTools;
  try {
    const registry = new Registry([onlyTools]);
    expect(registry.capabilities.prompts).toBeUndefined();
    expect(registry.capabilities.resources).toBeUndefined();
    const platform = await createPlatform(parseConfig({ toolsets: ['only_tools'] }, {}), { logger: createLogger('error') });
    const session = new RawSession((r) => platform.app.fetch(r));
    const init = await session.initialize();
    expect((await init.json()).result.capabilities).not.toHaveProperty('prompts');
    const called = await session.callTool('echo', { say: 'hi' });
    expect(called.result.content).toEqual([{ type: 'text', text: 'hi' }]);
    const invalid = await session.callTool('echo', { say: 5 });
    expect(invalid.result.isError).toBe(true);
    const prompts = await session.request('prompts/list');
    expect(prompts.messages[0].error.code).toBe(-32601);
  } finally {
    delete TOOLSET_FACTORIES.only_tools;
  }
});

it("compiles each tool's task option: never by default, re-runnable by its idempotentHint unless it says otherwise", () => {
  const tool = (name: string, extra: Partial<Parameters<typeof defineTool>[0]>) =>
    defineTool({ name, description: name, input: {}, handler: () => text(name), ...extra });
  const registry = new Registry([
    {
      name: 'tasks',
      description: 'test',
      tools: [
        tool('plain', {}),
        tool('optional_idempotent', { task: { support: 'optional' }, annotations: { idempotentHint: true } }),
        tool('required_once', { task: { support: 'required' } }),
        tool('required_rerun', { task: { support: 'required', rerunnable: true }, annotations: { idempotentHint: false } }),
        tool('optional_not_rerun', { task: { support: 'optional', rerunnable: false }, annotations: { idempotentHint: true } }),
      ],
    },
  ]);
  const task = (name: string) => registry.tools.get(name)?.task;
  expect(task('plain')).toEqual({ support: 'never', rerunnable: false });
  expect(task('optional_idempotent')).toEqual({ support: 'optional', rerunnable: true });
  expect(task('required_once')).toEqual({ support: 'required', rerunnable: false });
  expect(task('required_rerun')).toEqual({ support: 'required', rerunnable: true });
  expect(task('optional_not_rerun')).toEqual({ support: 'optional', rerunnable: false });
});
