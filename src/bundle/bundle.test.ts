import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rawTarball } from '../../test/support/tar.ts';
import type { RawEntry } from '../../test/support/tar.ts';
import { PlinthError } from '../domain/errors.ts';
import { writeTree } from '../../test/support/write-tree.ts';
import { ArtifactStore } from './artifact-store.ts';
import { extractBundle, inspectBundle } from './extract.ts';
import { isIgnored, parseIgnore } from './ignore.ts';
import { packDirectory, sha256Hex } from './pack.ts';

const root = scratchDir('bundle');

const write = writeTree;

async function refusalOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof PlinthError, String(err));
    assert.equal(err.code, 'INVALID_BUNDLE');
    return err.message;
  }
  assert.fail('expected the bundle to be refused');
}

test('ignore rules follow gitignore habits', () => {
  const rules = parseIgnore('# comment\n*.log\n/build\ndata/\n!keep.log\ndocs/**/*.png\n');
  assert.equal(isIgnored(rules, 'x.log', false), true);
  assert.equal(isIgnored(rules, 'a/b/x.log', false), true);
  assert.equal(isIgnored(rules, 'keep.log', false), false);
  assert.equal(isIgnored(rules, 'build', true), true);
  assert.equal(isIgnored(rules, 'src/build', true), false);
  assert.equal(isIgnored(rules, 'data', true), true);
  assert.equal(isIgnored(rules, 'data', false), false);
  assert.equal(isIgnored(rules, 'docs/a/b/c.png', false), true);
  assert.equal(isIgnored(rules, 'docs/c.png', false), true);
  assert.equal(isIgnored(rules, 'model/model.ts', false), false);
});

test('packing honours .plinthignore, .truss_ignore and the defaults, and is deterministic', async () => {
  const dir = write(join(root, 'model-a'), {
    'config.yaml': 'model_name: a\n',
    'model/model.ts': 'export class Model {}\n',
    'model/__pycache__/x.pyc': 'junk',
    'notes.tmp': 'scratch',
    'secret/key.txt': 'k',
    '.plinthignore': '*.tmp\n',
    '.truss_ignore': 'secret/\n',
    'node_modules/dep/index.js': 'x',
  });
  const first = await packDirectory(dir);
  assert.deepEqual(first.files, ['.plinthignore', '.truss_ignore', 'config.yaml', 'model/model.ts']);
  assert.equal(first.sha256, sha256Hex(first.bytes));
  const again = await packDirectory(dir);
  assert.equal(again.sha256, first.sha256);
  writeFileSync(join(dir, 'model/model.ts'), 'export class Model { changed = 1 }\n');
  assert.notEqual((await packDirectory(dir)).sha256, first.sha256);
  await assert.rejects(packDirectory(join(root, 'missing')), /is not a directory/);
});

test('a packed bundle extracts to the same files, links inside the bundle allowed', async () => {
  const dir = write(join(root, 'model-b'), {
    'config.yaml': 'x: 1\n',
    'model/model.ts': 'A',
    'data/w.bin': 'weights',
  });
  symlinkSync('w.bin', join(dir, 'data/latest.bin'));
  const packed = await packDirectory(dir);
  const dest = join(root, 'out-b');
  const files = await extractBundle(packed.bytes, dest);
  assert.deepEqual(files.sort(), ['config.yaml', 'data/latest.bin', 'data/w.bin', 'model/model.ts']);
  assert.equal(readFileSync(join(dest, 'model/model.ts'), 'utf8'), 'A');
  assert.equal(readFileSync(join(dest, 'data/latest.bin'), 'utf8'), 'weights');
  assert.deepEqual(
    readdirSync(root).filter((n) => n.includes('partial')),
    [],
  );
});

test('extraction strips setuid, setgid and sticky bits and keeps no owner from the bundle', async () => {
  const dest = join(root, 'out-special');
  await extractBundle(
    rawTarball([
      { path: 'tools/', type: 'Directory', mode: 0o1777, uid: 4321, gid: 4321 },
      { path: 'tools/become-root', body: '#!/bin/sh\n', mode: 0o4777, uid: 0, gid: 0 },
      { path: 'tools/become-group', body: '#!/bin/sh\n', mode: 0o2755, uid: 4321, gid: 4321 },
      { path: 'model/model.py', body: 'class Model: pass\n', mode: 0o644, uid: 4321, gid: 4321 },
    ]),
    dest,
  );
  assert.equal(statSync(dest).mode & 0o777, 0o700, "the extracted directory is the server's alone");
  for (const [path, kept] of [
    ['tools', 0o777],
    ['tools/become-root', 0o777],
    ['tools/become-group', 0o755],
    ['model/model.py', 0o644],
  ] as const) {
    const stat = statSync(join(dest, path));
    assert.equal(stat.mode & 0o7000, 0, `${path} keeps special bits: ${(stat.mode & 0o7777).toString(8)}`);
    assert.equal(stat.mode & 0o777 & ~kept, 0, path);
    assert.equal(stat.uid, process.getuid!(), `${path} is owned by ${stat.uid}`);
    assert.equal(stat.gid, process.getgid!(), `${path} has group ${stat.gid}`);
  }
});

test('hostile tarballs are refused with a message naming the entry, and nothing is written', async () => {
  const cases: [RawEntry[], RegExp][] = [
    [[{ path: '/etc/passwd', body: 'x' }], /"\/etc\/passwd" points outside the bundle/],
    [
      [{ path: 'model/../../escape.txt', body: 'x' }],
      /"model\/..\/..\/escape.txt" points outside the bundle/,
    ],
    [
      [{ path: 'evil', type: 'SymbolicLink', linkpath: '/etc/passwd' }],
      /link "evil" -> "\/etc\/passwd" leaves the bundle/,
    ],
    [
      [{ path: 'a/evil', type: 'SymbolicLink', linkpath: '../../x' }],
      /link "a\/evil" -> "..\/..\/x" leaves the bundle/,
    ],
    [[{ path: 'hard', type: 'Link', linkpath: '../outside' }], /"hard" -> "..\/outside" leaves the bundle/],
    [[{ path: 'dev', type: 'CharacterDevice' }], /"dev" is a CharacterDevice entry/],
    [[{ path: 'blk', type: 'BlockDevice' }], /"blk" is a BlockDevice entry/],
    [[{ path: 'pipe', type: 'FIFO' }], /"pipe" is a FIFO entry/],
  ];
  for (const [entries, expected] of cases) {
    const bytes = rawTarball(entries);
    assert.match(await refusalOf(() => inspectBundle(bytes)), expected);
    const dest = join(root, `hostile-${Math.random()}`);
    await assert.rejects(extractBundle(bytes, dest), expected);
    assert.equal(existsSync(dest), false);
  }
  assert.match(
    await refusalOf(() => inspectBundle(Buffer.from('not a tarball at all'))),
    /not a valid gzip tarball/,
  );
});

test('bundles over the size or file-count limit are refused', async () => {
  const big = rawTarball([
    { path: 'a', body: 'x'.repeat(2000) },
    { path: 'b', body: 'y'.repeat(2000) },
  ]);
  assert.match(
    await refusalOf(() => inspectBundle(big, { maxBytes: 3000, maxFiles: 10 })),
    /more than 3000 bytes when unpacked/,
  );
  const many = rawTarball([{ path: 'a' }, { path: 'b' }, { path: 'c' }]);
  assert.match(
    await refusalOf(() => inspectBundle(many, { maxBytes: 1e9, maxFiles: 2 })),
    /more than 2 files/,
  );
});

test('the artifact store verifies hashes and stores each bundle once', () => {
  const store = new ArtifactStore(join(root, 'artifacts'));
  const bytes = Buffer.from('bundle bytes');
  const sha = sha256Hex(bytes);
  assert.equal(store.has(sha), false);
  assert.throws(() => store.put('f'.repeat(64), bytes), /hashes to/);
  assert.throws(() => store.put('nothex', bytes), /is not a sha256/);
  store.put(sha, bytes);
  assert.equal(store.has(sha), true);
  assert.deepEqual(store.get(sha), bytes);
  assert.throws(() => store.get('0'.repeat(64)), /has not been uploaded/);
});

test('inspection keeps the bytes of the file asked for, when it is small enough', async () => {
  const bytes = rawTarball([
    { path: 'model/model.py', body: 'class Model: pass\n' },
    { path: './config.yaml', body: 'model_name: m\n' },
  ]);
  const entries = await inspectBundle(bytes, undefined, { path: 'config.yaml', maxBytes: 100 });
  const config = entries.find((e) => e.path === './config.yaml')!;
  assert.equal(config.data?.toString(), 'model_name: m\n');
  assert.equal(entries.find((e) => e.path === 'model/model.py')!.data, undefined);
  const small = await inspectBundle(bytes, undefined, { path: 'config.yaml', maxBytes: 5 });
  assert.equal(small.find((e) => e.path === './config.yaml')!.data, undefined, 'too big to keep');
});

test('a path may come once: a second config.yaml, ././config.yaml or a later link of the same name is refused', async () => {
  const base = { path: 'config.yaml', body: 'model_name: first\n' };
  for (const [second, shown] of [
    [{ path: 'config.yaml', body: 'model_name: SECOND\n' }, 'config.yaml'],
    [{ path: '././config.yaml', body: 'model_name: SNEAKY\n' }, '././config.yaml'],
    [{ path: 'config.yaml', type: 'SymbolicLink', linkpath: 'model/model.py' }, 'config.yaml'],
  ] as const) {
    const bytes = rawTarball([{ path: 'model/model.py', body: 'x' }, base, second]);
    assert.match(
      await refusalOf(() => inspectBundle(bytes)),
      new RegExp(`"${shown.replace(/\./g, '\\.')}" appears more than once`),
    );
  }
  // A directory may be listed again (tar does, for its parents).
  const dirs = rawTarball([
    { path: 'model/', type: 'Directory' },
    { path: 'model/', type: 'Directory' },
    { path: 'model/m.py', body: 'x' },
  ]);
  assert.equal((await inspectBundle(dirs)).length, 3);
});

test('extra folders are packed under their prefix, extract there, and may not collide with the directory', async () => {
  const extra = write(join(root, 'extra-lib'), {
    'pkg/__init__.py': 'X = 1\n',
    '.plinthignore': 'secret.txt\n',
    'secret.txt': 's',
  });
  const dir = write(join(root, 'model-extra'), { 'config.yaml': 'x: 1\n', 'model/model.py': 'M' });
  const packed = await packDirectory(dir, [{ dir: extra, prefix: '.plinth/external_packages/0' }]);
  assert.deepEqual(packed.files, [
    'config.yaml',
    'model/model.py',
    '.plinth/external_packages/0/.plinthignore',
    '.plinth/external_packages/0/pkg/__init__.py',
  ]);
  const dest = join(root, 'out-extra');
  await extractBundle(packed.bytes, dest);
  assert.equal(readFileSync(join(dest, '.plinth/external_packages/0/pkg/__init__.py'), 'utf8'), 'X = 1\n');
  assert.equal((await packDirectory(dir)).files.length, 2, 'without extras, only the directory');
  write(dir, { '.plinth/external_packages/0/own.py': 'mine' });
  assert.match(
    await refusalOf(() => packDirectory(dir, [{ dir: extra, prefix: '.plinth/external_packages/0' }])),
    /own\.py: \.plinth\/external_packages\/0\/ is where Plinth packs external_package_dirs/,
  );
});
