// The secrets replicas get: values stored encrypted, decrypted into memory when the server starts
// and when they change, handed to the replicas whose config declares them (Truss `secrets`), and
// masked out of every log line and status reason in which a value would appear.
import { PlinthError } from '../domain/errors.ts';
import type { SecretInfo } from '../domain/types.ts';
import type { Store } from '../store/store.ts';
import type { SecretBox } from './secret-box.ts';

/** Where secrets' ciphertexts are kept. */
export type SecretStore = Pick<Store, 'putSecret' | 'getSecretCiphertext' | 'listSecrets' | 'deleteSecret'>;

export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
export const MASK = '****';
/** Values shorter than this are not masked (they would mask ordinary words). */
const MIN_MASKED_LENGTH = 4;

/**
 * The ways a secret's value shows up in what a model prints: as it is, JSON-escaped, URL-encoded,
 * in base64 (standard and URL-safe, at each of the three alignments it can have inside a longer
 * encoded string) and in hex. Matched ignoring case (an upper-cased token is the same token).
 */
export function secretForms(value: string): string[] {
  const bytes = Buffer.from(value);
  const forms = new Set<string>([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
  forms.add(bytes.toString('hex'));
  for (let offset = 0; offset < 3; offset++) {
    // The characters that depend on the value alone, whatever comes before or after it.
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const start = Math.ceil((offset * 4) / 3);
    const end = Math.floor(((offset + bytes.length) * 4) / 3);
    const core = encoded.slice(start, end);
    if (core.length >= 8) {
      forms.add(core);
      forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms].filter((f) => f.length >= MIN_MASKED_LENGTH);
}

export class Vault {
  private values = new Map<string, string>();
  /** Every form of every value, as one pattern (rebuilt when the values change). */
  private pattern: RegExp | null | undefined;

  constructor(
    private readonly store: SecretStore,
    private readonly box: SecretBox,
  ) {}

  async load(): Promise<void> {
    const values = new Map<string, string>();
    for (const s of await this.store.listSecrets()) {
      const stored = await this.store.getSecretCiphertext(s.name);
      if (stored === undefined) continue;
      try {
        values.set(s.name, this.box.decrypt(stored));
      } catch {
        console.error(`plinth: secret ${s.name} cannot be decrypted with this key; set it again`);
      }
    }
    this.values = values;
    this.pattern = undefined;
  }

  async set(name: string, value: string): Promise<SecretInfo> {
    if (!SECRET_NAME.test(name)) {
      throw new PlinthError(
        'VALIDATION_ERROR',
        `secret name "${name}" is not allowed: letters, digits, "_", "." and "-", starting with a letter or "_"`,
      );
    }
    if (value.length === 0)
      throw new PlinthError('VALIDATION_ERROR', 'field "value": a secret cannot be empty');
    const info = await this.store.putSecret(name, this.box.encrypt(value));
    this.values.set(name, value);
    this.pattern = undefined;
    return info;
  }

  async delete(name: string): Promise<void> {
    if (!(await this.store.deleteSecret(name)))
      throw new PlinthError('NOT_FOUND', `secret "${name}" not found`);
    this.values.delete(name);
    this.pattern = undefined;
  }

  list(): Promise<SecretInfo[]> {
    return this.store.listSecrets();
  }

  /**
   * The values for a config's `secrets` (name → default): the stored value, else the config's
   * own non-empty default; names with neither are missing.
   */
  resolve(declared: Record<string, string | null> | undefined): {
    values: Record<string, string>;
    missing: string[];
  } {
    const values: Record<string, string> = {};
    const missing: string[] = [];
    for (const [name, fallback] of Object.entries(declared ?? {})) {
      const value = this.values.get(name) ?? (fallback || undefined);
      if (value === undefined) missing.push(name);
      else values[name] = value;
    }
    return { values, missing };
  }

  /** Replaces every stored secret's value in `text`, in any of its forms (secretForms), with ****. */
  mask(text: string): string {
    if (this.pattern === undefined) {
      const forms = [...this.values.values()]
        .filter((v) => v.length >= MIN_MASKED_LENGTH)
        .flatMap(secretForms)
        .sort((a, b) => b.length - a.length);
      this.pattern = forms.length
        ? new RegExp(forms.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi')
        : null;
    }
    return this.pattern ? text.replace(this.pattern, MASK) : text;
  }
}
