// The held-out files (bench/data/heldout/*.jsonl.gz) as plain records, for the runners that read
// every language at once. (bench/model/heldout.ts reads them as the training recipe filters them.)

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface HeldoutRecord {
  path: string;
  lang: string;
  text: string;
}

/** Every record with a string path and text, files in name order, text as stored (CRLF kept). The folder must exist. */
export function readHeldoutDir(dir: string): HeldoutRecord[] {
  const out: HeldoutRecord[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl.gz')).sort()) {
    const text = gunzipSync(readFileSync(join(dir, f))).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as Partial<HeldoutRecord>;
      if (typeof r.path === 'string' && typeof r.text === 'string') out.push({ path: r.path, lang: String(r.lang ?? ''), text: r.text });
    }
  }
  return out;
}
