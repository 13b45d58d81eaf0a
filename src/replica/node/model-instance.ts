// Loads a TypeScript/JavaScript model class and calls it: constructor, setupEnvironment, load,
// pre/predict/post, websocket, isHealthy. A model serves predict() or websocket(), never both (as Truss has it).
// Knows nothing of HTTP.
import { pathToFileURL } from 'node:url';

export interface ModelContext {
  config: Record<string, unknown>;
  dataDir: string;
  secrets: Record<string, string>;
  environment: Record<string, unknown> | null;
}

interface ModelShape {
  load?: () => unknown;
  predict?: (input: unknown) => unknown;
  websocket?: (ws: unknown) => unknown;
  preprocess?: (input: unknown) => unknown;
  postprocess?: (output: unknown) => unknown;
  isHealthy?: () => unknown;
  setupEnvironment?: (environment: Record<string, unknown> | null) => unknown;
}

export class ModelInstance {
  private readonly model: ModelShape;

  private constructor(model: ModelShape) {
    this.model = model;
  }

  static async create(file: string, className: string, context: ModelContext): Promise<ModelInstance> {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const defaultExport = mod.default as Record<string, unknown> | undefined;
    const ctor =
      mod[className] ?? defaultExport?.[className] ?? (className === 'Model' ? mod.default : undefined);
    if (typeof ctor !== 'function') {
      throw new Error(`${file} does not export a class named ${className}`);
    }
    const model = new (ctor as new (ctx: ModelContext) => ModelShape)(context);
    const predicts = typeof model.predict === 'function';
    const websockets = typeof model.websocket === 'function';
    if (predicts && websockets) {
      throw new Error(
        `${className} in ${file} has both predict() and websocket(): a model serves one or the other (Truss refuses both too); make the WebSocket its own model`,
      );
    }
    if (!predicts && !websockets)
      throw new Error(`${className} in ${file} has no predict() method (nor a websocket() method)`);
    return new ModelInstance(model);
  }

  async load(): Promise<void> {
    if (typeof this.model.load === 'function') await this.model.load();
  }

  /** False or a throw (logged, with its stack) is unhealthy. */
  async isHealthy(): Promise<boolean> {
    if (typeof this.model.isHealthy !== 'function') return true;
    try {
      return (await this.model.isHealthy()) !== false;
    } catch (err) {
      console.error(`isHealthy() threw: ${(err as Error).stack ?? String(err)}`);
      return false;
    }
  }

  /** The environment the deployment serves (before load(), and again when a promotion moves it). */
  async setupEnvironment(environment: Record<string, unknown> | null): Promise<void> {
    if (typeof this.model.setupEnvironment !== 'function') return;
    console.log(`calling setupEnvironment(${JSON.stringify(environment)})`);
    await this.model.setupEnvironment(environment);
  }

  /** Whether it is served at …/websocket (a websocket() method) rather than …/predict. */
  get servesWebSocket(): boolean {
    return typeof this.model.websocket === 'function';
  }

  /** Runs websocket(ws) on an accepted connection; its promise settles when the method returns. */
  async websocket(ws: unknown): Promise<void> {
    await this.model.websocket!(ws);
  }

  async preprocess(input: unknown): Promise<unknown> {
    return typeof this.model.preprocess === 'function' ? await this.model.preprocess(input) : input;
  }

  /** Returns the value, or an async iterable when predict is a generator (a stream). */
  async predict(input: unknown): Promise<unknown> {
    const out = this.model.predict!(input);
    if (isAsyncIterable(out) || isSyncIterator(out)) return out;
    return await out;
  }

  /** Whether the model has a method of this name (an OpenAI route's). */
  has(name: string): boolean {
    return typeof (this.model as unknown as Record<string, unknown>)[name] === 'function';
  }

  /** Calls one of the model's own methods: its value, or an iterable when it is a generator. */
  async call(name: string, input: unknown): Promise<unknown> {
    const out = (this.model as unknown as Record<string, (input: unknown) => unknown>)[name]!(input);
    if (isAsyncIterable(out) || isSyncIterator(out)) return out;
    return await out;
  }

  async postprocess(output: unknown): Promise<unknown> {
    return typeof this.model.postprocess === 'function' ? await this.model.postprocess(output) : output;
  }
}

export function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}

/** A sync generator object (not arrays or strings, which are plain results). */
export function isSyncIterator(v: unknown): v is Iterable<unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Symbol.iterator in v &&
    typeof (v as { next?: unknown }).next === 'function'
  );
}
