import type { AnyStateMachine } from 'xstate';

/** The parts of an XState v5 state node read here (as in src/cli/mermaid.ts). */
interface NodeLike {
  key: string;
  path: string[];
  type: string;
  description?: string | undefined;
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

/** One state of the chart: `id` is its path joined by `.` (`due.fired`), as `transition` events name states. */
export interface ChartState {
  id: string;
  key: string;
  /** The compound state it is drawn in, or null at the top. */
  parent: string | null;
  /** Left by eventless transitions as soon as entered. */
  transient: boolean;
  final: boolean;
  compound: boolean;
  initial: boolean;
  description: string | null;
}

/** The transitions from one state to another, their labels (`EVENT [guard]`) merged. */
export interface ChartEdge {
  from: string;
  to: string;
  labels: string[];
}

export interface MachineChart {
  id: string;
  states: ChartState[];
  edges: ChartEdge[];
}

function guardLabel(g: unknown): string {
  if (typeof g === 'string') return g;
  if (typeof g === 'function') {
    const inner = (g as { guards?: unknown }).guards;
    if (Array.isArray(inner) && (g.name === 'and' || g.name === 'or' || g.name === 'not')) {
      if (g.name === 'not') return `!${guardLabel(inner[0])}`;
      return inner.map(guardLabel).join(g.name === 'and' ? ' && ' : ' || ');
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

const eventName = (t: TransitionLike): string => {
  const after = /^xstate\.after\.(\d+)\./.exec(t.eventType);
  if (after) return `after ${after[1]}ms`;
  return t.eventType === '' ? 'always' : t.eventType;
};

const idOf = (n: NodeLike): string => n.path.join('.');
const isTransient = (n: NodeLike): boolean => (n.always?.length ?? 0) > 0;

/** Atomic descendants that rest (not final, not transient): where a parent's event handlers apply. */
function restingLeaves(n: NodeLike): NodeLike[] {
  if (isTransient(n)) return [];
  const children = Object.values(n.states);
  if (children.length === 0) return n.type === 'final' ? [] : [n];
  return children.flatMap(restingLeaves);
}

/**
 * The statechart of a machine as data for the console to draw: every state (compound ones with
 * their children) and every transition that changes state, walked from the machine's own
 * definition, so the drawing is the machine that runs.
 */
export function machineChart(machine: AnyStateMachine): MachineChart {
  const root = machine.root as unknown as NodeLike;
  const states: ChartState[] = [];
  const edges = new Map<string, ChartEdge>();
  const addEdge = (from: NodeLike, to: NodeLike, label: string): void => {
    const k = `${idOf(from)}->${idOf(to)}`;
    let e = edges.get(k);
    if (!e) edges.set(k, (e = { from: idOf(from), to: idOf(to), labels: [] }));
    if (!e.labels.includes(label)) e.labels.push(label);
  };
  const transitionsOf = (n: NodeLike): TransitionLike[][] => [...n.transitions.values(), ...(n.always?.length ? [n.always] : [])];
  const walkEdges = (src: NodeLike, from: NodeLike[]): void => {
    for (const group of transitionsOf(src)) {
      for (const [i, t] of group.entries()) {
        const guarded = t.guard !== undefined && t.guard !== null;
        const fallback = !guarded && group.slice(0, i).some((s) => s.guard !== undefined && s.guard !== null);
        const label = guarded ? `${eventName(t)} [${guardLabel(t.guard)}]` : fallback ? `${eventName(t)} [else]` : eventName(t);
        for (const to of t.target ?? []) for (const f of from) if (from.length === 1 || f !== to) addEdge(f, to, label);
      }
    }
  };
  const walk = (n: NodeLike, parent: NodeLike | null): void => {
    const initial = n.initial.target[0];
    for (const c of Object.values(n.states)) {
      states.push({
        id: idOf(c),
        key: c.key,
        parent: parent === null ? null : idOf(n),
        transient: isTransient(c),
        final: c.type === 'final',
        compound: Object.keys(c.states).length > 0,
        initial: c === initial,
        description: c.description ?? null,
      });
      walk(c, c);
      walkEdges(c, [c]);
    }
  };
  walk(root, null);
  const leaves = restingLeaves(root);
  if (transitionsOf(root).length > 0 && leaves.length > 0) walkEdges(root, leaves);
  return { id: root.key, states, edges: [...edges.values()] };
}
