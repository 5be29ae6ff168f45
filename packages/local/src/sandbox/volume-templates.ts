import { createHash, randomUUID } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../fork-server/run-command.ts';

/** A file system image as mkfs left it: its size, and the ranges it wrote (everything else reads as zeros). */
interface Template {
  readonly bytes: number;
  readonly extents: readonly { readonly offset: number; readonly data: Buffer }[];
  /** When mkfs made it (ms since the epoch): a template is made again once it is `maxAgeMs` old. */
  readonly madeAt: number;
}

export interface VolumeTemplatesOptions {
  /** A folder of root's own (made 0700 when missing) that holds the templates, shared by every process that names it. */
  readonly folder: string;
  /**
   * Makes a file system in `image`, an existing sparse file of its final size (mkfs with the
   * volume's options); its errors are thrown as they are, whether it made a template or an image.
   */
  readonly make: (image: string) => Promise<void>;
  /** Names what `make` makes (its options): a template made another way is never used. */
  readonly makeKey: string;
  /** A template older than this is made again (a new file system UUID, a newer mkfs); 1 hour by default. */
  readonly maxAgeMs?: number;
}

const format = 'cairn-volume-template-1';
/** Past this much data, a size is made by mkfs each time (16 TiB, the largest workspace, writes ~8 MiB of group descriptors). */
const maxTemplateDataBytes = 32 * 1024 * 1024;
/** Sizes kept (in memory, and on disk): a host's attempts use one or two. */
const maxTemplates = 8;
/** A template being made that is older than this was left by a process that died making it. */
const abandonedMs = 10 * 60_000;

/**
 * Where mkfs wrote in a file, by Linux's SEEK_DATA (3) and SEEK_HOLE (4): a line `<offset> <length>`
 * a range. Perl because Node's fs cannot seek so (perl-base is what the runner's fork server and the
 * sandbox's relay run on already).
 */
const dataRangesScript =
  'open(my $f, "<", $ARGV[0]) or die "$ARGV[0]: $!\\n"; my ($at, $end) = (0, -s $f); while ($at < $end) { my $data = sysseek($f, $at, 3); last unless defined $data; my $hole = sysseek($f, $data, 4); defined $hole or die "SEEK_HOLE: $!\\n"; print $data + 0, " ", $hole - $data, "\\n"; $at = $hole; }';

/**
 * Attempts' workspace file systems written from a template instead of made by mkfs each time: per
 * size, mkfs makes one sparse image, the ranges it wrote (~48 KiB at 4 GiB, in six ranges) are kept
 * in a file in `folder` and in memory, and each attempt's image is a sparse file of that size with
 * those ranges written into it: the same bytes mkfs would write, with no program started. Where the
 * template cannot be made (no Perl, a file system without holes, more than 32 MiB of metadata) each
 * image is made by `make`, as before.
 *
 * Why not a pool of images made ahead: a pool takes mkfs off an attempt's wall time but not off the
 * host's CPU (the pool's refill runs the same mkfs for every attempt); a template takes it off both,
 * keeps nothing on disk but the template (no pool to bound, refill or clean), and writes the image
 * into the attempt's own folder, where the sweeps of dead processes' folders already find it.
 *
 * What the images of one template share: the file system's UUID and directory hash seed (mkfs draws
 * them once per template, and ext4's metadata checksums are seeded from the UUID, so they cannot be
 * changed by a write). Nothing mounts these images by UUID, the images are root's only and the
 * sandbox sees the mounted tree, not the image; a template is made again every `maxAgeMs` anyway.
 *
 * A template file is written whole under a temporary name, then renamed; it carries the digest of
 * its data, so one torn by a power cut (never fsynced) or altered is made again, not used.
 */
export class VolumeTemplates {
  readonly #options: VolumeTemplatesOptions;
  readonly #maxAgeMs: number;
  readonly #templates = new Map<number, Template>();
  readonly #making = new Map<number, Promise<Template | undefined>>();
  /** Sizes whose template could not be made: made by `make` from then on. */
  readonly #unavailable = new Set<number>();

  constructor(options: VolumeTemplatesOptions) {
    this.#options = options;
    this.#maxAgeMs = options.maxAgeMs ?? 60 * 60_000;
  }

  /**
   * Writes a new file system of `bytes` at `image` (which must not exist): from the size's template,
   * made first when there is none or it is too old, else by `make`. Throws what `make` threw, or the
   * write's own error (ENOSPC on a full disk); the caller removes a half-written image.
   */
  async write(image: string, bytes: number): Promise<void> {
    const template = await this.#template(bytes);
    const file = await open(image, 'wx', 0o600);
    try {
      await file.truncate(bytes);
      for (const { offset, data } of template?.extents ?? []) {
        for (let written = 0; written < data.length;) {
          const { bytesWritten } = await file.write(data, written, data.length - written, offset + written);
          written += bytesWritten;
        }
      }
    } finally {
      await file.close();
    }
    if (template === undefined) await this.#options.make(image);
  }

  /** The template of `bytes`, from memory, from its file, or made now; undefined where it cannot be made. */
  async #template(bytes: number): Promise<Template | undefined> {
    if (this.#unavailable.has(bytes)) return undefined;
    const kept = this.#templates.get(bytes);
    if (kept !== undefined && Date.now() - kept.madeAt < this.#maxAgeMs) return kept;
    const making = this.#making.get(bytes);
    if (making !== undefined) return making;
    const made = this.#readOrMake(bytes).finally(() => this.#making.delete(bytes));
    this.#making.set(bytes, made);
    return made;
  }

  async #readOrMake(bytes: number): Promise<Template | undefined> {
    const file = join(this.#options.folder, `ext4-${bytes}-${this.#key()}.template`);
    const read = (await this.#folderIsOurs()) ? await readTemplate(file, bytes) : undefined;
    const template = read !== undefined && Date.now() - read.madeAt < this.#maxAgeMs ? read : await this.#make(bytes, file);
    if (template === undefined) return undefined;
    this.#templates.delete(bytes);
    this.#templates.set(bytes, template);
    for (const size of this.#templates.keys()) if (this.#templates.size > maxTemplates) this.#templates.delete(size);
    return template;
  }

  /** Makes the template of `bytes` with `make`, keeps it in `file`; undefined (and never tried again) where its ranges cannot be read. */
  async #make(bytes: number, file: string): Promise<Template | undefined> {
    if (!(await this.#folderIsOurs())) {
      this.#unavailable.add(bytes);
      return undefined;
    }
    await this.#prune();
    const image = join(this.#options.folder, `.making-${randomUUID()}.img`);
    try {
      const handle = await open(image, 'wx', 0o600);
      try {
        await handle.truncate(bytes);
      } finally {
        await handle.close();
      }
      const madeAt = Date.now();
      // mkfs's own failure (a full disk, mkfs missing) is the attempt's, as when it made the attempt's image.
      await this.#options.make(image);
      const ranges = await dataRanges(image).catch(() => undefined);
      const total = ranges?.reduce((sum, [, length]) => sum + length, 0) ?? Number.POSITIVE_INFINITY;
      if (ranges === undefined || total > maxTemplateDataBytes) {
        this.#unavailable.add(bytes);
        return undefined;
      }
      const extents = await readRanges(image, ranges);
      const template: Template = { bytes, extents, madeAt };
      const temporary = join(this.#options.folder, `.making-${randomUUID()}.template`);
      await writeFile(temporary, templateFile(template), { mode: 0o600, flag: 'wx' });
      await rename(temporary, file);
      return template;
    } finally {
      await rm(image, { force: true });
    }
  }

  /**
   * Whether the folder (made now when missing) is a folder of this process's user that no one else
   * may write in. The kernel mounts what a template holds: a folder another user made first (a work
   * root under /tmp) or can write in could hand it a crafted file system, so then none is used.
   */
  async #folderIsOurs(): Promise<boolean> {
    const { folder } = this.#options;
    await mkdir(folder, { recursive: true, mode: 0o700 }).catch(() => undefined);
    const stats = await lstat(folder).catch(() => undefined);
    return stats !== undefined && stats.isDirectory() && stats.uid === process.getuid?.() && (stats.mode & 0o022) === 0;
  }

  /** Templates past their age, and what processes that died while making one left. */
  async #prune(): Promise<void> {
    const names = await readdir(this.#options.folder).catch(() => [] as string[]);
    const now = Date.now();
    await Promise.all(
      names.map(async (name) => {
        const path = join(this.#options.folder, name);
        const modified = await stat(path).then(
          (stats) => stats.mtimeMs,
          () => now,
        );
        const old = name.startsWith('.making-') ? now - modified > abandonedMs : name.endsWith('.template') && now - modified > this.#maxAgeMs;
        if (old) await rm(path, { force: true });
      }),
    );
  }

  #key(): string {
    return createHash('sha256').update(this.#options.makeKey).digest('hex').slice(0, 16);
  }
}

async function dataRanges(image: string): Promise<[offset: number, length: number][]> {
  const { stdout } = await runCommand('/usr/bin/perl', ['-e', dataRangesScript, image], { env: { PATH: '/usr/bin:/bin' } });
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [offset, length] = line.split(' ').map(Number);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset! < 0 || length! <= 0) throw new Error(`unexpected range: ${line}`);
      return [offset!, length!];
    });
}

async function readRanges(image: string, ranges: readonly [number, number][]): Promise<Template['extents']> {
  const handle = await open(image, 'r');
  try {
    const extents = [];
    for (const [offset, length] of ranges) {
      const data = Buffer.alloc(length);
      for (let read = 0; read < length;) {
        const { bytesRead } = await handle.read(data, read, length - read, offset + read);
        if (bytesRead === 0) throw new Error(`${image} ended at ${offset + read}, inside a range mkfs wrote`);
        read += bytesRead;
      }
      extents.push({ offset, data });
    }
    return extents;
  } finally {
    await handle.close();
  }
}

/** A template file: one JSON line (the size, when made, each range and the digest of their data), then the data. */
function templateFile(template: Template): Buffer {
  const data = Buffer.concat(template.extents.map((extent) => extent.data));
  const header = {
    format,
    bytes: template.bytes,
    madeAt: template.madeAt,
    extents: template.extents.map((extent) => [extent.offset, extent.data.length]),
    sha256: createHash('sha256').update(data).digest('hex'),
  };
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), data]);
}

/** The template in `file` when it is whole and of `bytes`; undefined when it is missing, torn or of another size. */
async function readTemplate(file: string, bytes: number): Promise<Template | undefined> {
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch {
    return undefined;
  }
  try {
    const end = content.indexOf(0x0a);
    if (end < 0) return undefined;
    const header = JSON.parse(content.subarray(0, end).toString('utf8')) as {
      format?: unknown;
      bytes?: unknown;
      madeAt?: unknown;
      extents?: unknown;
      sha256?: unknown;
    };
    if (header.format !== format || header.bytes !== bytes || typeof header.madeAt !== 'number' || !Array.isArray(header.extents)) return undefined;
    const data = content.subarray(end + 1);
    if (createHash('sha256').update(data).digest('hex') !== header.sha256) return undefined;
    const extents = [];
    let at = 0;
    for (const range of header.extents as unknown[]) {
      if (!Array.isArray(range) || range.length !== 2) return undefined;
      const [offset, length] = range as [unknown, unknown];
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || (offset as number) < 0 || (length as number) <= 0) return undefined;
      if ((offset as number) + (length as number) > bytes || at + (length as number) > data.length) return undefined;
      extents.push({ offset: offset as number, data: data.subarray(at, at + (length as number)) });
      at += length as number;
    }
    return at === data.length ? { bytes, extents, madeAt: header.madeAt } : undefined;
  } catch {
    return undefined;
  }
}
