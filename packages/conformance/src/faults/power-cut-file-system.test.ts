// The power-cut file system against its model: each case runs on it (and must see what the model
// says survives a cut) and on a deliberately broken variant that keeps what should be lost or loses
// what was fsynced (and must then see something else), so no case passes whatever the cut does.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { usePowerCutFileSystem, type PowerCutFileSystem, type PowerCutFileSystemBreakage } from './power-cut-file-system.ts';

const exact = usePowerCutFileSystem();
const broken: Record<PowerCutFileSystemBreakage, PowerCutFileSystem> = {
  'keeps-unsynced': usePowerCutFileSystem({ broken: 'keeps-unsynced' }),
  'ignores-fsync': usePowerCutFileSystem({ broken: 'ignores-fsync' }),
};

// better-sqlite3 is the engine's; this package does not depend on it, its tests borrow it.
const betterSqlite3 = createRequire(fileURLToPath(new URL('../../../engine/package.json', import.meta.url))).resolve('better-sqlite3');
type Database = { prepare(sql: string): { get(): unknown }; exec(sql: string): void; close(): void };
const openDatabase = createRequire(import.meta.url)(betterSqlite3) as new (file: string, options?: { timeout: number }) => Database;

function fsyncPath(path: string): void {
  const descriptor = openSync(path, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

function write(path: string, content: string, options: { flag?: string; fsync?: boolean } = {}): void {
  const descriptor = openSync(path, options.flag ?? 'w');
  try {
    writeSync(descriptor, content);
    if (options.fsync) fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

/** A file with `content` whose data and name are durable. */
function writeDurably(path: string, content: string): void {
  write(path, content, { fsync: true });
  fsyncPath(dirname(path));
}

const read = (path: string): string | null => (existsSync(path) ? readFileSync(path, 'utf8') : null);

let folders = 0;
/** A new durable folder on `fs` for one case. */
function freshFolder(fs: PowerCutFileSystem): string {
  const folder = join(fs.path, `case-${++folders}`);
  mkdirSync(folder);
  fsyncPath(fs.path);
  return folder;
}

interface Case {
  readonly name: string;
  /** What the model says is there after the cut. */
  readonly expected: unknown;
  /** The broken variants that must see something else. */
  readonly catches: readonly PowerCutFileSystemBreakage[];
  /** Acts in `folder`, cuts the power, and returns what is there. */
  run(folder: string, cut: () => Promise<void>): Promise<unknown>;
}

/**
 * A process writing rows to a SQLite database in WAL mode (one commit a row, each acknowledged on
 * its standard output once `run` returned): `fullRows` with synchronous=FULL, then `laterRows` with
 * `laterSynchronous`; it is killed once all are acknowledged, as a power cut would.
 */
async function sqliteWriter(file: string, fullRows: number, laterRows: number, laterSynchronous: 'OFF' | 'FULL'): Promise<number> {
  const script = `
    const Database = require(process.env.BETTER_SQLITE3);
    const db = new Database(process.argv[1]);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE rows (n INTEGER NOT NULL)');
    const insert = db.prepare('INSERT INTO rows VALUES (?)');
    const [full, later] = [Number(process.argv[2]), Number(process.argv[3])];
    for (let n = 0; n < full; n++) { insert.run(n); process.stdout.write('committed\\n'); }
    db.pragma('synchronous = ' + process.argv[4]);
    for (let n = full; n < full + later; n++) { insert.run(n); process.stdout.write('committed\\n'); }
    process.stdout.write('done\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script, file, String(fullRows), String(laterRows), laterSynchronous], {
    env: { ...process.env, BETTER_SQLITE3: betterSqlite3 },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('done\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the SQLite writer ended (${code}) before it was done: ${errors}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return output.split('\n').filter((line) => line === 'committed').length;
}

/** The rows of the database after the cut (opened afresh, as a restarted server does), or why there are none. */
function rowsAfterCut(file: string): number | string {
  if (!existsSync(file)) return 'no database';
  const database = new openDatabase(file);
  try {
    return (database.prepare('SELECT count(*) AS rows FROM rows').get() as { rows: number }).rows;
  } catch (error) {
    return (error as Error).message;
  } finally {
    database.close();
  }
}

const cases: Case[] = [
  {
    name: 'a write that was not fsynced is lost: the file shows its content at its last fsync',
    expected: 'durable',
    catches: ['keeps-unsynced'],
    run: async (folder, cut) => {
      const file = join(folder, 'file');
      writeDurably(file, 'durable');
      write(file, ' and then some', { flag: 'a' });
      await cut();
      return read(file);
    },
  },
  {
    name: 'an fsync through one descriptor makes durable what every descriptor of the file wrote',
    expected: 'one two',
    catches: ['ignores-fsync'],
    run: async (folder, cut) => {
      const file = join(folder, 'file');
      writeDurably(file, '');
      const first = openSync(file, 'r+');
      const second = openSync(file, 'r+');
      writeSync(first, 'one', 0);
      writeSync(second, ' two', 3);
      fsyncSync(second);
      closeSync(first);
      closeSync(second);
      await cut();
      return read(file);
    },
  },
  {
    name: 'of two files written, the one fsynced keeps its writes and the other loses them',
    expected: { fsynced: 'new a', unsynced: 'old b' },
    catches: ['keeps-unsynced', 'ignores-fsync'],
    run: async (folder, cut) => {
      const [a, b] = [join(folder, 'a'), join(folder, 'b')];
      writeDurably(a, 'old a');
      writeDurably(b, 'old b');
      write(a, 'new a', { fsync: true });
      write(b, 'new b');
      await cut();
      return { fsynced: read(a), unsynced: read(b) };
    },
  },
  {
    name: 'a truncate that was not fsynced is undone',
    expected: 'abcdef',
    catches: ['keeps-unsynced'],
    run: async (folder, cut) => {
      const file = join(folder, 'file');
      writeDurably(file, 'abcdef');
      const descriptor = openSync(file, 'r+');
      ftruncateSync(descriptor, 2);
      writeSync(descriptor, 'XY', 4);
      closeSync(descriptor);
      await cut();
      return read(file);
    },
  },
  {
    name: 'a new file fsynced in a folder that was not is gone: fsyncing a file never makes its name durable',
    expected: null,
    catches: ['keeps-unsynced'],
    run: async (folder, cut) => {
      const file = join(folder, 'new');
      write(file, 'content', { fsync: true });
      await cut();
      return read(file);
    },
  },
  {
    name: 'a new file fsynced, then its folder: kept with its content, and a write after both is lost',
    expected: 'content',
    catches: ['keeps-unsynced', 'ignores-fsync'],
    run: async (folder, cut) => {
      const file = join(folder, 'new');
      writeDurably(file, 'content');
      write(file, ' more', { flag: 'a' });
      await cut();
      return read(file);
    },
  },
  {
    name: 'a name made durable by its folder fsync before its data was fsynced shows an empty file',
    expected: '',
    catches: ['keeps-unsynced'],
    run: async (folder, cut) => {
      const file = join(folder, 'new');
      write(file, 'content');
      fsyncPath(folder);
      await cut();
      return read(file);
    },
  },
  {
    name: 'write, fsync, rename over a file, no folder fsync: the old file is back and the temporary name gone',
    expected: { target: 'old', temporary: null },
    catches: ['keeps-unsynced'],
    run: async (folder, cut) => {
      const [target, temporary] = [join(folder, 'target'), join(folder, 'target.tmp')];
      writeDurably(target, 'old');
      write(temporary, 'new', { fsync: true });
      renameSync(temporary, target);
      await cut();
      return { target: read(target), temporary: read(temporary) };
    },
  },
  {
    name: 'write, fsync, rename over a file, folder fsync: the new content under the name',
    expected: { target: 'new', temporary: null },
    catches: ['ignores-fsync'],
    run: async (folder, cut) => {
      const [target, temporary] = [join(folder, 'target'), join(folder, 'target.tmp')];
      writeDurably(target, 'old');
      write(temporary, 'new', { fsync: true });
      renameSync(temporary, target);
      fsyncPath(folder);
      await cut();
      return { target: read(target), temporary: read(temporary) };
    },
  },
  {
    name: 'an unlink without a folder fsync is undone; with one it holds',
    expected: { kept: 'kept', removed: null },
    catches: ['keeps-unsynced', 'ignores-fsync'],
    run: async (folder, cut) => {
      const [kept, removed] = [join(folder, 'kept'), join(folder, 'sub', 'removed')];
      mkdirSync(join(folder, 'sub'));
      writeDurably(kept, 'kept');
      writeDurably(removed, 'removed');
      unlinkSync(removed);
      fsyncPath(join(folder, 'sub'));
      unlinkSync(kept);
      await cut();
      return { kept: read(kept), removed: read(removed) };
    },
  },
  {
    name: 'a temporary file published by a hard link and removed, then the folder fsynced (an if-absent put)',
    expected: { object: 'object', temporary: null },
    catches: ['ignores-fsync'],
    run: async (folder, cut) => {
      const [object, temporary] = [join(folder, 'object'), join(folder, '.tmp-object')];
      write(temporary, 'object', { fsync: true });
      linkSync(temporary, object);
      unlinkSync(temporary);
      fsyncPath(folder);
      await cut();
      return { object: read(object), temporary: read(temporary) };
    },
  },
  {
    name: 'names become durable in the order they changed: a folder fsync carries earlier changes elsewhere, not later ones',
    expected: { earlierElsewhere: 'a', inTheFolder: 'b', laterElsewhere: null },
    catches: ['keeps-unsynced', 'ignores-fsync'],
    run: async (folder, cut) => {
      const [x, y] = [join(folder, 'x'), join(folder, 'y')];
      mkdirSync(x);
      mkdirSync(y);
      write(join(x, 'a'), 'a', { fsync: true });
      write(join(y, 'b'), 'b', { fsync: true });
      write(join(x, 'c'), 'c', { fsync: true });
      fsyncPath(y);
      await cut();
      return { earlierElsewhere: read(join(x, 'a')), inTheFolder: read(join(y, 'b')), laterElsewhere: read(join(x, 'c')) };
    },
  },
  {
    name: 'SQLite in WAL mode with synchronous=OFF loses the commits made since it was switched from FULL',
    expected: { rows: 5, acknowledged: 25 },
    catches: ['keeps-unsynced'],
    run: async (folder, cut) => {
      const file = join(folder, 'state.db');
      const acknowledged = await sqliteWriter(file, 5, 20, 'OFF');
      await cut();
      return { rows: rowsAfterCut(file), acknowledged };
    },
  },
  {
    name: 'SQLite in WAL mode with synchronous=FULL keeps every commit it acknowledged',
    expected: { rows: 25, acknowledged: 25 },
    catches: ['ignores-fsync'],
    run: async (folder, cut) => {
      const file = join(folder, 'state.db');
      const acknowledged = await sqliteWriter(file, 5, 20, 'FULL');
      await cut();
      return { rows: rowsAfterCut(file), acknowledged };
    },
  },
];

for (const { name, expected, catches, run } of cases) {
  test(name, async () => {
    expect(await run(freshFolder(exact), exact.cut)).toEqual(expected);
  });
  for (const breakage of catches)
    test(`(fails on a file system that ${breakage.replace('-', ' ')}) ${name}`, async () => {
      const fs = broken[breakage];
      expect(await run(freshFolder(fs), fs.cut)).not.toEqual(expected);
    });
}

test('a cut stops the file system for whoever held it: an open descriptor answers ENOTCONN, a new open sees the durable state', async () => {
  const folder = freshFolder(exact);
  const file = join(folder, 'held');
  writeDurably(file, 'held');
  const descriptor = openSync(file, 'r');
  try {
    await exact.cut();
    expect(() => readSync(descriptor, Buffer.alloc(4), 0, 4, 0)).toThrow(expect.objectContaining({ code: 'ENOTCONN' }));
  } finally {
    closeSync(descriptor);
  }
  expect(read(file)).toBe('held');
});

test("a POSIX lock one process holds refuses another's, as on a local disk (SQLite's locks; the server's data-directory lock)", async () => {
  const file = join(freshFolder(exact), 'server.lock');
  const script = `
    const Database = require(process.env.BETTER_SQLITE3);
    const db = new Database(process.argv[1], { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('held\\n');
    setInterval(() => {}, 1000);`;
  const holder = spawn(process.execPath, ['-e', script, file], {
    env: { ...process.env, BETTER_SQLITE3: betterSqlite3 },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('held')) resolve();
      });
      holder.once('exit', (code) => reject(new Error(`the lock holder ended (${code})`)));
    });
    const contender = new openDatabase(file, { timeout: 0 });
    try {
      expect(() => contender.exec('BEGIN EXCLUSIVE')).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }));
    } finally {
      contender.close();
    }
  } finally {
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
  }
  // The kernel drops the lock with its holder.
  const next = new openDatabase(file, { timeout: 0 });
  try {
    next.exec('BEGIN EXCLUSIVE');
    next.exec('COMMIT');
  } finally {
    next.close();
  }
});

test('unmounted, the durable folder holds plain files: what was durable, under its durable names', async () => {
  const folder = freshFolder(exact);
  writeDurably(join(folder, 'durable'), 'durable');
  write(join(folder, 'durable'), ' and lost', { flag: 'a' });
  write(join(folder, 'lost'), 'lost', { fsync: true });
  await exact.unmount();
  try {
    const inDurable = join(exact.durable, folder.slice(exact.path.length + 1));
    expect(readFileSync(join(inDurable, 'durable'), 'utf8')).toBe('durable');
    expect(existsSync(join(inDurable, 'lost'))).toBe(false);
  } finally {
    await exact.mount();
  }
});
