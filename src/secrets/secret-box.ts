// Encryption of secret values at rest: AES-256-GCM with a 32-byte key from PLINTH_SECRET_KEY
// (base64) or from the Plinth home's secret.key (created once, mode 600). A value is stored as
// `v1:<iv>:<tag>:<ciphertext>` (base64 parts); a wrong key or a changed byte fails to decrypt.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { PlinthError } from '../domain/errors.ts';

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The key from the environment, else the key file (made on first use, readable by its owner only). */
  static open(keyFile: string, fromEnv = process.env.PLINTH_SECRET_KEY): SecretBox {
    if (fromEnv) {
      const key = Buffer.from(fromEnv, 'base64');
      if (key.length !== 32) {
        throw new PlinthError('VALIDATION_ERROR', 'PLINTH_SECRET_KEY must be 32 bytes, base64-encoded');
      }
      return new SecretBox(key);
    }
    if (!existsSync(keyFile))
      writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    if ((statSync(keyFile).mode & 0o077) !== 0) chmodSync(keyFile, 0o600);
    const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (key.length !== 32)
      throw new PlinthError('VALIDATION_ERROR', `${keyFile} does not hold a 32-byte key`);
    return new SecretBox(key);
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64'),
      cipher.getAuthTag().toString('base64'),
      ciphertext.toString('base64'),
    ].join(':');
  }

  decrypt(stored: string): string {
    const [version, iv, tag, ciphertext] = stored.split(':');
    if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('not a stored secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString(
      'utf8',
    );
  }
}
