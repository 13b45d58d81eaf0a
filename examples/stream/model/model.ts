// The stream example: an async generator that yields one token at a time, with a pause between
// tokens, the way a text-generation model produces its output.
interface Input {
  prompt?: string;
  tokens?: number;
  delay_ms?: number;
  /** Yield JSON lines that say when each token was produced (Date.now()). */
  with_time?: boolean;
}

export class Model {
  async *predict(input: Input): AsyncGenerator<string> {
    const words = (input.prompt ?? 'the quick brown fox jumps over the lazy dog')
      .split(/\s+/)
      .filter(Boolean);
    const count = Math.min(input.tokens ?? words.length, 1000);
    const delayMs = Math.min(input.delay_ms ?? 100, 5000);
    for (let i = 0; i < count; i++) {
      const token = words[i % words.length]!;
      yield input.with_time ? JSON.stringify({ token, produced_at_ms: Date.now() }) + '\n' : `${token}\n`;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
