// Shared by the monitor tests: a byte-level BPE tokenizer (tokenizer.json layout, trained by the
// fixture trainer on the code corpus plus the monitor fixtures) and the fixture files.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByteLevelBpeTokenizer } from '../../../src/engine/tokenizer';
import type { TokenizerLike } from '../../../src/engine/types';
import { tokenizerJson, trainByteLevelBpe } from '../../fixtures/bpeTrainer';
import { CODE_CORPUS } from '../../fixtures/codeCorpus';

export const FIXTURES = join(__dirname, '../../fixtures/monitors');
export const FIXTURE_FILES = ['inventory.py', 'shapes.ts.txt', 'view.tsx.txt', 'queue.js.txt', 'list.c'];

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

let cached: ByteLevelBpeTokenizer | undefined;

/** Trained once per process (~1 s): 1200 merges over ~10 KB of code. */
export function fixtureTokenizer(): ByteLevelBpeTokenizer {
  if (!cached) {
    const corpus = [CODE_CORPUS, ...FIXTURE_FILES.map(fixture)].join('\n');
    cached = new ByteLevelBpeTokenizer(tokenizerJson(trainByteLevelBpe(corpus, 1200)).json);
  }
  return cached;
}

/** The shipped model's tokenizer when it is present in this checkout (models/default). */
export function defaultModelTokenizer(): TokenizerLike | null {
  const p = join(__dirname, '../../../models/default/tokenizer.json');
  if (!existsSync(p)) return null;
  return new ByteLevelBpeTokenizer(JSON.parse(readFileSync(p, 'utf8')));
}
