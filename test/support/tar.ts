// Gzip tarballs made by hand, for the bundles no honest packer writes (an entry escaping the tree,
// a device node, a setuid file, a declared size out of reach): what bundle and security tests push.
import { Header } from 'tar';
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  path: string;
  /** tar's type name: 'File', 'Directory', 'SymbolicLink', 'Link', 'CharacterDevice', … */
  type?: string;
  linkpath?: string;
  body?: string;
  /** The size the header declares (else the body's). */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** One entry's 512-byte header. */
export function tarHeader(e: RawEntry): Buffer {
  const header = new Header({
    path: e.path,
    type: (e.type ?? 'File') as 'File',
    size: e.size ?? Buffer.byteLength(e.body ?? ''),
    mode: e.mode ?? 0o644,
    uid: e.uid,
    gid: e.gid,
    linkpath: e.linkpath,
    mtime: new Date(0),
  });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  return block;
}

/** The tar stream of `entries` (each header, its body padded to 512 bytes), then the end blocks. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    blocks.push(tarHeader(e), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function rawTarball(entries: RawEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}
