import { readFileSync } from 'node:fs';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * Self size per (node type, constructor name) of a V8 `.heapsnapshot`, largest first: which kind
 * of object holds the memory. Retained sizes need a dominator tree; self sizes are enough to see
 * what a job costs.
 */
export function summarizeHeap(file: string, top = 25, perUnit?: { count: number; label: string }): string {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const by = new Map<string, { size: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + fType]!] ?? '?';
    const size = snap.nodes[i + fSize]!;
    total += size;
    let name = type === 'object' || type === 'closure' || type === 'native' ? snap.strings[snap.nodes[i + fName]!] ?? '?' : '';
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const key = name ? `${type} ${name}` : `(${type})`;
    const e = by.get(key) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    by.set(key, e);
  }
  const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1).padStart(7)} MiB`;
  const per = (b: number): string => (perUnit ? `  ${(b / perUnit.count).toFixed(0).padStart(6)} B/${perUnit.label}` : '');
  return [
    `heap snapshot ${file}: ${mib(total)} live${per(total)}`,
    ...[...by]
      .sort((a, b) => b[1].size - a[1].size)
      .slice(0, top)
      .map(([k, v]) => `  ${mib(v.size)}${per(v.size)}  ${String(v.count).padStart(9)} × ${k}`),
  ].join('\n');
}
