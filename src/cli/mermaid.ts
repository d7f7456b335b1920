import type { AnyStateMachine } from 'xstate';
import { isTransient, label, restingLeaves, type NodeLike, type TransitionLike } from '../machines/definition.js';

const nodeId = (n: NodeLike): string => n.path.join('__');

/** `stays on A, B [g], ...` broken into lines of about `width` characters. */
function staysLines(items: string[], width = 56): string[] {
  const lines: string[] = [];
  let line = 'stays on';
  for (const [i, item] of items.entries()) {
    const piece = `${i === 0 ? ' ' : ', '}${item}`;
    if (line.length + piece.length > width && i > 0) {
      lines.push(`${line},`);
      line = item;
    } else line += piece;
  }
  lines.push(line);
  return lines;
}

export interface MermaidOptions {
  /** State key (or `a.b` path) to highlight, e.g. the job's current state. */
  current?: string;
  /** Text for the note next to the highlighted state. */
  currentNote?: string;
}

/**
 * A Mermaid `stateDiagram-v2` of an XState machine, for people: every state; one edge per
 * transition that changes state, labelled `EVENT [guard]` (`always` for eventless ones, `[else]`
 * for the fallback after guarded ones; the guards of one event are tried in the order drawn);
 * transient states (those with eventless transitions) named `(transient)`, the simple ones dashed
 * (Mermaid does not style composite states); what a state handles without leaving it written
 * inside it ("stays on ..."). Transitions declared on a parent are drawn from each of its resting
 * leaves.
 */
export function toMermaid(machine: AnyStateMachine, opts: MermaidOptions = {}): string {
  const root = machine.root as unknown as NodeLike;
  const out: string[] = ['stateDiagram-v2', `  %% machine ${root.key}: EVENT [guard]; guards of one event are tried in the order drawn; always = eventless`];
  const transient: string[] = [];

  const transitionsOf = (n: NodeLike): TransitionLike[][] => [...n.transitions.values(), ...(n.always?.length ? [n.always] : [])];

  /** Edges of `src` (its transitions, or its parent's when `from` differs), and what it handles in place. */
  const edges = (indent: string, src: NodeLike, from: NodeLike[] = [src]): void => {
    const stays: string[] = [];
    for (const group of transitionsOf(src)) {
      for (const t of group) {
        const targets = t.target ?? [];
        if (targets.length === 0) {
          stays.push(label(t, group));
          continue;
        }
        for (const f of from) {
          for (const to of targets) {
            // a parent's transition to one of its leaves does not loop on that leaf
            if (from.length === 1 || f !== to) out.push(`${indent}${nodeId(f)} --> ${nodeId(to)} : ${label(t, group)}`);
          }
        }
      }
    }
    if (stays.length > 0) for (const f of from) for (const l of staysLines(stays)) out.push(`${indent}${nodeId(f)} : ${l}`);
  };

  const draw = (n: NodeLike, indent: string): void => {
    const children = Object.values(n.states);
    const initial = n.initial.target[0];
    if (initial) out.push(`${indent}[*] --> ${nodeId(initial)}`);
    for (const c of children) {
      const id = nodeId(c);
      const name = isTransient(c) ? `state "${c.key} (transient)" as ${id}` : `state ${id}`;
      if (isTransient(c) && Object.keys(c.states).length === 0) transient.push(id);
      if (Object.keys(c.states).length > 0) {
        out.push(`${indent}${name} {`);
        draw(c, `${indent}  `);
        out.push(`${indent}}`);
      } else if (isTransient(c)) {
        out.push(`${indent}${name}`);
      }
    }
    for (const c of children) edges(indent, c);
    for (const c of children) if (c.type === 'final') out.push(`${indent}${nodeId(c)} --> [*]`);
  };

  draw(root, '  ');
  const leaves = restingLeaves(root);
  if (transitionsOf(root).length > 0 && leaves.length > 0) edges('  ', root, leaves);
  if (transient.length > 0) {
    out.push('  classDef transient stroke-dasharray:4 3,font-style:italic');
    out.push(`  class ${transient.join(',')} transient`);
  }
  if (opts.current !== undefined) {
    const id = opts.current.split('.').join('__');
    out.push('  classDef current fill:#ffe082,stroke:#e65100,stroke-width:3px');
    out.push(`  class ${id} current`);
    if (opts.currentNote) out.push(`  note right of ${id} : ${opts.currentNote.replace(/[:;]/g, ' ')}`);
  }
  return out.join('\n');
}
