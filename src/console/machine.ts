import type { AnyStateMachine } from 'xstate';
import { isTransient, label, restingLeaves, type NodeLike, type TransitionLike } from '../machines/definition.js';

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

const idOf = (n: NodeLike): string => n.path.join('.');
/**
 * The statechart of a machine as data for the console to draw: every state (compound ones with
 * their children) and every transition that changes state, walked from the machine's own
 * definition, so the drawing is the machine that runs.
 */
export function machineChart(machine: AnyStateMachine): MachineChart {
  const root = machine.root as unknown as NodeLike;
  const states: ChartState[] = [];
  const edges = new Map<string, ChartEdge>();
  const addEdge = (from: NodeLike, to: NodeLike, text: string): void => {
    const k = `${idOf(from)}->${idOf(to)}`;
    let e = edges.get(k);
    if (!e) edges.set(k, (e = { from: idOf(from), to: idOf(to), labels: [] }));
    if (!e.labels.includes(text)) e.labels.push(text);
  };
  const transitionsOf = (n: NodeLike): TransitionLike[][] => [...n.transitions.values(), ...(n.always?.length ? [n.always] : [])];
  const walkEdges = (src: NodeLike, from: NodeLike[]): void => {
    for (const group of transitionsOf(src)) {
      for (const t of group) {
        const text = label(t, group);
        for (const to of t.target ?? []) for (const f of from) if (from.length === 1 || f !== to) addEdge(f, to, text);
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
