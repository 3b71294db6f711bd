// The fixture checkpoint (tiny random qwen2 with the real FIM tokenizer), written and loaded once
// per test process and shared by the decoding, completion and CLI tests.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { Model } from '../../../src/engine/model';
import type { Checkpoint } from '../../../src/engine/types';
import { writeTinyCheckpoint } from '../../fixtures/tinyModel';

export interface Tiny {
  dir: string;
  ckpt: Checkpoint;
  model: Model;
}

let tiny: Promise<Tiny> | undefined;
let root: string | undefined;

/** Writes the fixture folder (once) and returns its path. */
export function tinyDir(): string {
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'slip-tiny-'));
    writeTinyCheckpoint(join(root, 'model'), { family: 'qwen2', seed: 7 });
  }
  return join(root, 'model');
}

export function loadTiny(): Promise<Tiny> {
  tiny ??= (async () => {
    const dir = tinyDir();
    const ckpt = await loadCheckpoint(dir);
    const model = await Model.load(ckpt, { threads: 1 });
    return { dir, ckpt, model };
  })();
  return tiny;
}

export async function disposeTiny(): Promise<void> {
  if (tiny) await (await tiny).model.dispose();
  tiny = undefined;
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
}
