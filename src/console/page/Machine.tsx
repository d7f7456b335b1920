import dagre from '@dagrejs/dagre';
import { useMemo } from 'preact/hooks';
import type { ChartState, MachineChart } from './api.js';

interface Box {
  id: string;
  state: ChartState;
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Line {
  key: string;
  from: string;
  to: string;
  points: { x: number; y: number }[];
  label: string;
  title: string;
  lx: number;
  ly: number;
}

interface Layout {
  w: number;
  h: number;
  boxes: Box[];
  lines: Line[];
}

const CHAR = 7.2;
const PAD = 14;
const TITLE = 22;

/** `TICK [slotDue]` → `TICK`: the chart shows the events, the guards are in each edge's tooltip. */
const eventOf = (label: string): string => label.replace(/\s*\[.*\]$/, '');

/** The state of `id` as seen at `level` (its ancestor that is a child of `level`), or null when it is outside. */
function at(level: string | null, id: string, byId: Map<string, ChartState>): string | null {
  let cur: ChartState | undefined = byId.get(id);
  while (cur && cur.parent !== level) cur = cur.parent === null ? undefined : byId.get(cur.parent);
  return cur ? cur.id : null;
}

/**
 * Lays the chart out with dagre, level by level: a compound state's children are laid out first
 * (its size is theirs plus a title), then placed as one node among its siblings. An edge is drawn
 * at the deepest level that holds both of its ends.
 */
function layout(chart: MachineChart): Layout {
  const byId = new Map(chart.states.map((s) => [s.id, s]));
  const boxes: Box[] = [];
  const lines: Line[] = [];
  const place = (level: string | null): { w: number; h: number; boxes: Box[]; lines: Line[] } => {
    const children = chart.states.filter((s) => s.parent === level);
    const inner = new Map<string, ReturnType<typeof place>>();
    const g = new dagre.graphlib.Graph({ multigraph: false });
    g.setGraph({ rankdir: level === null ? 'LR' : 'TB', nodesep: 14, edgesep: 8, ranksep: level === null ? 46 : 26, marginx: 6, marginy: 6 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const c of children) {
      if (c.compound) {
        const sub = place(c.id);
        inner.set(c.id, sub);
        g.setNode(c.id, { width: sub.w + 2 * PAD, height: sub.h + TITLE + PAD });
      } else {
        g.setNode(c.id, { width: Math.max(70, c.key.length * CHAR + 2 * PAD), height: 34 });
      }
    }
    const merged = new Map<string, { from: string; to: string; labels: string[] }>();
    for (const e of chart.edges) {
      const f = at(level, e.from, byId);
      const t = at(level, e.to, byId);
      if (f === null || t === null || f === t) continue;
      // an edge between children of a deeper compound is drawn there
      const k = `${f}->${t}`;
      let m = merged.get(k);
      if (!m) merged.set(k, (m = { from: f, to: t, labels: [] }));
      for (const l of e.labels) if (!m.labels.includes(l)) m.labels.push(l);
    }
    for (const m of merged.values()) {
      // the events that take it, shortly (all of them, with their guards, in the edge's tooltip)
      const events = [...new Set(m.labels.map(eventOf))];
      const label = events.length > 2 ? `${events.slice(0, 2).join(', ')} +${events.length - 2}` : events.join(', ');
      g.setEdge(m.from, m.to, { width: label.length * 5.6 + 4, height: 12, labelpos: 'c', label, title: m.labels.join('\n') });
    }
    dagre.layout(g);
    const graph = g.graph() as { width?: number; height?: number };
    const out = { w: graph.width ?? 100, h: graph.height ?? 40, boxes: [] as Box[], lines: [] as Line[] };
    for (const c of children) {
      const n = g.node(c.id) as { x: number; y: number; width: number; height: number };
      const box = { id: c.id, state: c, x: n.x - n.width / 2, y: n.y - n.height / 2, w: n.width, h: n.height };
      out.boxes.push(box);
      const sub = inner.get(c.id);
      if (sub) {
        const dx = box.x + PAD;
        const dy = box.y + TITLE;
        for (const b of sub.boxes) out.boxes.push({ ...b, x: b.x + dx, y: b.y + dy });
        for (const l of sub.lines) out.lines.push({ ...l, points: l.points.map((p) => ({ x: p.x + dx, y: p.y + dy })), lx: l.lx + dx, ly: l.ly + dy });
      }
    }
    for (const e of g.edges()) {
      const d = g.edge(e) as { points: { x: number; y: number }[]; x: number; y: number; label: string; title: string };
      out.lines.push({ key: `${e.v}->${e.w}`, from: e.v, to: e.w, points: d.points, label: d.label, title: d.title, lx: d.x, ly: d.y });
    }
    return out;
  };
  const top = place(null);
  boxes.push(...top.boxes);
  lines.push(...top.lines);
  return { w: top.w, h: top.h, boxes, lines };
}

const path = (pts: { x: number; y: number }[]): string => {
  if (pts.length === 0) return '';
  let d = `M${pts[0]!.x},${pts[0]!.y}`;
  for (let i = 1; i < pts.length - 1; i++) {
    const p = pts[i]!;
    const n = pts[i + 1]!;
    d += ` Q${p.x},${p.y} ${(p.x + n.x) / 2},${(p.y + n.y) / 2}`;
  }
  const last = pts[pts.length - 1]!;
  return `${d} L${last.x},${last.y}`;
};

interface Props {
  chart: MachineChart;
  /** The job's state now (a state id: `idle`, `running`, …). */
  current: string | null;
  /** The last state change seen, lit on the chart. */
  last: { from: string; to: string } | null;
}

/** The job's statechart, laid out from the machine's definition, its current state lit. */
export function MachineView({ chart, current, last }: Props) {
  const l = useMemo(() => layout(chart), [chart]);
  const byId = useMemo(() => new Map(chart.states.map((s) => [s.id, s])), [chart]);
  const ancestors = new Set<string>();
  for (let s = current === null ? undefined : byId.get(current); s; s = s.parent === null ? undefined : byId.get(s.parent)) ancestors.add(s.id);
  const taken = new Set<string>();
  if (last) {
    // the edge drawn for the change: at the level where its ends differ
    for (const line of l.lines) {
      const level = byId.get(line.from)?.parent ?? null;
      if (at(level, last.from, byId) === line.from && at(level, last.to, byId) === line.to) taken.add(line.key);
    }
  }
  return (
    <svg class="machine" viewBox={`0 0 ${Math.ceil(l.w)} ${Math.ceil(l.h)}`} width={Math.ceil(l.w)} height={Math.ceil(l.h)} role="img" aria-label={`state machine ${chart.id}, current state ${current ?? 'unknown'}`} data-current={current ?? ''}>
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
        </marker>
        <marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead taken" />
        </marker>
      </defs>
      {l.boxes
        .filter((b) => b.state.compound)
        .map((b) => (
          <g key={b.id} class={`state compound${ancestors.has(b.id) ? ' active' : ''}${b.state.transient ? ' transient' : ''}`} data-state={b.id}>
            <title>{b.state.description ?? b.id}</title>
            <rect x={b.x} y={b.y} width={b.w} height={b.h} rx={10} />
            <text x={b.x + 10} y={b.y + 16} class="state-title">
              {b.state.key}
              {b.state.transient ? ' (transient)' : ''}
            </text>
          </g>
        ))}
      {l.lines.map((line) => (
        <g key={line.key} class={`edge${taken.has(line.key) ? ' taken' : ''}`} data-edge={line.key}>
          <title>{line.title}</title>
          <path d={path(line.points)} marker-end={taken.has(line.key) ? 'url(#arrow-taken)' : 'url(#arrow)'} />
          <text x={line.lx} y={line.ly + 3} text-anchor="middle" class="edge-label">
            {line.label}
          </text>
        </g>
      ))}
      {l.boxes
        .filter((b) => !b.state.compound)
        .map((b) => (
          <g
            key={b.id}
            class={`state${b.id === current ? ' current' : ''}${b.state.transient ? ' transient' : ''}${b.state.final ? ' final' : ''}${b.state.initial ? ' initial' : ''}`}
            data-state={b.id}
          >
            <title>{b.state.description ?? b.id}</title>
            <rect x={b.x} y={b.y} width={b.w} height={b.h} rx={b.state.final ? 17 : 8} />
            <text x={b.x + b.w / 2} y={b.y + b.h / 2 + 4} text-anchor="middle">
              {b.state.key}
            </text>
          </g>
        ))}
    </svg>
  );
}
