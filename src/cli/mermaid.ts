import type { AnyStateMachine } from 'xstate';

/** The parts of an XState v5 state node the drawing reads. */
interface NodeLike {
  key: string;
  path: string[];
  type: string;
  states: Record<string, NodeLike>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[] | undefined;
  initial: { target: readonly NodeLike[] };
}

interface TransitionLike {
  target?: readonly NodeLike[] | undefined;
  guard?: unknown;
  eventType: string;
}

const nodeId = (n: NodeLike): string => n.path.join('__');

function guardLabel(g: unknown): string | null {
  if (g === undefined || g === null) return null;
  if (typeof g === 'string') return g;
  if (typeof g === 'function') return g.name || 'guard';
  if (typeof g === 'object' && 'type' in g) {
    const { type, params } = g as { type: unknown; params?: unknown };
    const args = params && typeof params === 'object' ? Object.values(params).map(String).join(', ') : '';
    return args ? `${String(type)}(${args})` : String(type);
  }
  return 'guard';
}

function eventLabel(t: TransitionLike): string {
  const g = guardLabel(t.guard);
  let ev = t.eventType;
  const after = /^xstate\.after\.(\d+)\./.exec(ev);
  if (after) ev = `after ${after[1]}ms`;
  const parts = [ev === '' ? 'always' : ev, g === null ? '' : `[${g}]`].filter(Boolean);
  return parts.join(' ');
}

/** Atomic (and parallel-free) descendants of a node, final ones excluded: where a parent's handlers apply. */
function leaves(n: NodeLike): NodeLike[] {
  const children = Object.values(n.states);
  if (children.length === 0) return n.type === 'final' ? [] : [n];
  return children.flatMap(leaves);
}

export interface MermaidOptions {
  /** State key (or `a.b` path) to highlight, e.g. the job's current state. */
  current?: string;
  /** Text for the note next to the highlighted state. */
  currentNote?: string;
}

/**
 * A Mermaid `stateDiagram-v2` of an XState machine: every state, event transitions (with their
 * guards), eventless (`always`) transitions, and transitions declared on a parent drawn from each
 * of its non-final descendants. Transitions without a target (actions only) do not change state:
 * they are listed in a comment.
 */
export function toMermaid(machine: AnyStateMachine, opts: MermaidOptions = {}): string {
  const root = machine.root as unknown as NodeLike;
  const out: string[] = ['stateDiagram-v2'];
  const internal = new Set<string>();
  const seen = new Set<string>();

  const edge = (indent: string, from: string, to: string, label: string): void => {
    const line = `${indent}${from} --> ${to}${label ? ` : ${label}` : ''}`;
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
  };

  const transitionsOf = (n: NodeLike): TransitionLike[] => [...[...n.transitions.values()].flat(), ...(n.always ?? [])];

  const draw = (n: NodeLike, indent: string): void => {
    const children = Object.values(n.states);
    const initial = n.initial.target[0];
    if (initial) edge(indent, '[*]', nodeId(initial), '');
    for (const c of children) {
      if (Object.keys(c.states).length > 0) {
        out.push(`${indent}state ${nodeId(c)} {`);
        draw(c, `${indent}  `);
        out.push(`${indent}}`);
      }
    }
    for (const c of children) {
      if (c.type === 'final') edge(indent, nodeId(c), '[*]', '');
    }
    // transitions declared on n's children, and on n itself (drawn from each of its leaves)
    const sources: [NodeLike, TransitionLike[]][] = children.map((c) => [c, transitionsOf(c)]);
    for (const [src, ts] of sources) {
      for (const t of ts) {
        const targets = t.target ?? [];
        if (targets.length === 0) {
          internal.add(t.eventType === '' ? 'always' : t.eventType);
          continue;
        }
        for (const to of targets) edge(indent, nodeId(src), nodeId(to), eventLabel(t));
      }
    }
  };

  out.push(`  %% machine ${root.key}`);
  draw(root, '  ');
  for (const t of transitionsOf(root)) {
    const targets = t.target ?? [];
    if (targets.length === 0) {
      internal.add(t.eventType);
      continue;
    }
    for (const leaf of leaves(root)) {
      for (const to of targets) if (leaf !== to) edge('  ', nodeId(leaf), nodeId(to), eventLabel(t));
    }
  }
  if (internal.size > 0) out.push(`  %% handled without a change of state: ${[...internal].sort().join(', ')}`);
  if (opts.current !== undefined) {
    const id = opts.current.split('.').join('__');
    out.push('  classDef current fill:#ffe082,stroke:#e65100,stroke-width:3px');
    out.push(`  class ${id} current`);
    if (opts.currentNote) out.push(`  note right of ${id} : ${opts.currentNote.replace(/[:;]/g, ' ')}`);
  }
  return out.join('\n');
}
