// One state file that is read once and written back a while after it changed: the machinery
// shared by the per-workspace stores (n-gram token lists, the Token Recycling matrix). Saves
// are debounced (an unref'd timer, so a pending save never keeps the process alive), never
// overlap, and go through a temporary file + rename so a reader never sees half a file.
// Reading ignores a missing file silently and anything else with a warning: these files only
// ever make things faster, never decide what is output.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface DebouncedFileLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface DebouncedFileOptions {
  /** The file; undefined = memory only (nothing read or written). */
  file: string | undefined;
  /** Starts every log line, e.g. 'n-grams'. */
  label: string;
  log?: DebouncedFileLog;
  /** Save this long after the last change, ms (default 30 000). */
  saveDelayMs?: number;
  /** The bytes to write, called at save time; undefined = nothing new to save. */
  encode: () => Uint8Array | undefined;
}

export class DebouncedFile {
  private timer: NodeJS.Timeout | undefined;
  /** The save in progress: saves never overlap. */
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly opts: DebouncedFileOptions) {}

  get file(): string | undefined {
    return this.opts.file;
  }

  /**
   * The file decoded, or undefined when there is none or it is unusable (logged unless it is
   * simply missing). Never throws.
   */
  async read<T>(decode: (bytes: Uint8Array) => T): Promise<T | undefined> {
    const file = this.opts.file;
    if (!file) return undefined;
    try {
      return decode(await readFile(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.log?.warn(`${this.opts.label}: ignoring ${file}: ${errorText(e)}`);
      return undefined;
    }
  }

  /** Something changed: save once it has been quiet for a while. */
  touch(): void {
    if (!this.opts.file || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.saveDelayMs ?? 30_000);
    this.timer.unref?.();
  }

  /** Saves now when there is something new. Never throws (a failed save is logged). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.saving = this.saving.then(() => this.save());
    return this.saving;
  }

  private async save(): Promise<void> {
    const file = this.opts.file;
    if (!file) return;
    const bytes = this.opts.encode();
    if (!bytes) return;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (e) {
      this.opts.log?.warn(`${this.opts.label}: could not save ${file}: ${errorText(e)}`);
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
