/** `toolsets`: the built-in toolsets to serve, by name (e.g. `conformance`); empty = the default set. */
import { stringList } from '../values.js';

export const toolsetsSetting = stringList().default([]);
