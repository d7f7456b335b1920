/**
 * Reading an XState v5 machine's own definition (its state nodes and transitions) to draw it: the
 * shared part of `schedctl machine --mermaid` (src/cli/mermaid.ts) and the console's chart
 * (src/console/machine.ts), so both show the machine that runs, labelled the same way.
 */

/** The parts of an XState v5 state node a drawing reads. */
export interface NodeLike {
  key: string;
  path: string[];
  type: string;
  description?: string | undefined;
  states: Record<string, NodeLike>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[] | undefined;
  initial: { target: readonly NodeLike[] };
}

export interface TransitionLike {
  target?: readonly NodeLike[] | undefined;
  guard?: unknown;
  eventType: string;
}


/** A guard as written in the machine: a name, `name(param)`, or `and`/`or`/`not` of guards. */
export function guardLabel(g: unknown, nested = false): string {
  if (typeof g === 'string') return g;
  if (typeof g === 'function') {
    const inner = (g as { guards?: unknown }).guards;
    if (Array.isArray(inner) && (g.name === 'and' || g.name === 'or' || g.name === 'not')) {
      if (g.name === 'not') return `!${guardLabel(inner[0], true)}`;
      const text = inner.map((x) => guardLabel(x, true)).join(g.name === 'and' ? ' && ' : ' || ');
      return nested ? `(${text})` : text;
    }
    return g.name || 'guard';
  }
  if (g !== null && typeof g === 'object' && 'type' in g) {
    const { type, params } = g as { type: unknown; params?: unknown };
    const args = params && typeof params === 'object' ? Object.values(params).map(String).join(', ') : '';
    return args ? `${String(type)}(${args})` : String(type);
  }
  return 'guard';
}

export const eventName = (t: TransitionLike): string => {
  const after = /^xstate\.after\.(\d+)\./.exec(t.eventType);
  if (after) return `after ${after[1]}ms`;
  return t.eventType === '' ? 'always' : t.eventType;
};

/**
 * `EVENT [guard]`. An unguarded transition listed after guarded ones of the same event is the
 * fallback: `[else]`.
 */
export function label(t: TransitionLike, siblings: readonly TransitionLike[]): string {
  if (t.guard !== undefined && t.guard !== null) return `${eventName(t)} [${guardLabel(t.guard)}]`;
  const guardedBefore = siblings.slice(0, siblings.indexOf(t)).some((s) => s.guard !== undefined && s.guard !== null);
  return guardedBefore ? `${eventName(t)} [else]` : eventName(t);
}

/** Transient: left by eventless transitions as soon as entered (no event is ever handled there). */
export const isTransient = (n: NodeLike): boolean => (n.always?.length ?? 0) > 0;

/** Atomic descendants of a node that rest (final and transient ones excluded): where its event handlers apply. */
export function restingLeaves(n: NodeLike): NodeLike[] {
  if (isTransient(n)) return [];
  const children = Object.values(n.states);
  if (children.length === 0) return n.type === 'final' ? [] : [n];
  return children.flatMap(restingLeaves);
}
