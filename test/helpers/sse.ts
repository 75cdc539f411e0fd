// Reads an event stream event by event as it arrives, for tests that must act in the middle of a
// stream (answer an elicitation, cancel, reconnect with Last-Event-ID).

export interface SseEvent {
  id?: string;
  event?: string;
  retry?: number;
  /** The data lines joined; '' for an event without data (a priming event). */
  data: string;
  /** The data parsed as JSON, when there is any. */
  message?: any;
}

export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = '';
  #done = false;

  constructor(response: Response) {
    if (!response.body) throw new Error('the response has no body');
    this.#reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event, or undefined when the stream ended. Comments (keep-alives) are skipped. */
  async next(): Promise<SseEvent | undefined> {
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const event = parse(block);
        if (event) return event;
        continue;
      }
      if (this.#done) return undefined;
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else this.#buffer += value;
    }
  }

  /** Events until the one that `match` accepts (returned last), or until the end. */
  async until(match: (event: SseEvent) => boolean): Promise<SseEvent[]> {
    const seen: SseEvent[] = [];
    for (let event = await this.next(); event; event = await this.next()) {
      seen.push(event);
      if (match(event)) break;
    }
    return seen;
  }

  /** Every event up to the end of the stream. */
  async rest(): Promise<SseEvent[]> {
    return this.until(() => false);
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

function parse(block: string): SseEvent | undefined {
  const event: SseEvent = { data: '' };
  const data: string[] = [];
  let fields = 0;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    fields++;
    if (name === 'id') event.id = value;
    else if (name === 'event') event.event = value;
    else if (name === 'retry') event.retry = Number(value);
    else if (name === 'data') data.push(value);
  }
  if (fields === 0) return undefined;
  event.data = data.join('\n');
  if (event.data.trim() !== '') event.message = JSON.parse(event.data);
  return event;
}
