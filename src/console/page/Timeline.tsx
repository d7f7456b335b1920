import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { LANES, type Mark, type MarkKind, type Timeline } from './marks.js';
import { duration } from './words.js';

const LANE_NAMES: Record<number, string> = { 4: 'fired', 3: 'skipped', 2: 'buffered', 1: 'missed' };
const FAILED = new Set(['failed', 'timed_out', 'dispatch_failed', 'terminated', 'cancelled']);

/** The chart's series: fired marks coloured by their result, then one per other kind. */
const SERIES: { label: string; color: string; test: (m: Mark) => boolean }[] = [
  { label: 'fired: succeeded', color: '#2e7d32', test: (m) => m.kind === 'fired' && m.result === 'succeeded' },
  { label: 'fired: failed', color: '#c62828', test: (m) => m.kind === 'fired' && m.result !== undefined && FAILED.has(m.result) },
  { label: 'fired: active', color: '#1565c0', test: (m) => m.kind === 'fired' && m.result === undefined },
  { label: 'skipped', color: '#ef6c00', test: (m) => m.kind === 'skipped' },
  { label: 'buffered', color: '#6a1b9a', test: (m) => m.kind === 'buffered' },
  { label: 'missed', color: '#616161', test: (m) => m.kind === 'missed' },
];

export function markTitle(m: Mark): string {
  const when = new Date(m.at).toISOString();
  switch (m.kind) {
    case 'fired':
      return `fired ${when}${m.trigger ? ` (${m.trigger})` : ''}${m.latenessMs !== undefined ? `, ${duration(m.latenessMs)} late` : ''}, ${m.result ?? 'active'}`;
    case 'skipped':
      return `skipped ${when}${m.reason ? ` (${m.reason})` : ''}`;
    case 'buffered':
      return `buffered ${when}`;
    case 'missed':
      return `missed ${m.missedCount ?? '?'} slot(s) up to ${when} (${m.reason ?? 'misfire'})`;
  }
}

interface Props {
  timeline: Timeline;
  from: number;
  to: number;
  selected: Mark | null;
  onSelect: (m: Mark) => void;
}

/** The timeline drawn with uPlot: one lane per kind of mark, paused periods shaded; hover and click a mark. */
export function TimelineChart({ timeline, from, to, selected, onSelect }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [width, setWidth] = useState(800);
  const selectRef = useRef(onSelect);
  selectRef.current = onSelect;
  const selectedRef = useRef<Mark | null>(selected);
  selectedRef.current = selected;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(320, Math.floor(el.clientWidth))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const { marks, paused } = timeline;
    const xs = [...new Set(marks.map((m) => m.at / 1000))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const ys = SERIES.map(() => xs.map((): number | null => null));
    for (const m of marks) {
      const s = SERIES.findIndex((d) => d.test(m));
      if (s >= 0) ys[s]![index.get(m.at / 1000)!] = LANES[m.kind];
    }
    const tip = document.createElement('div');
    tip.className = 'timeline-tip';
    tip.hidden = true;
    const nearest = (u: uPlot, left: number, top: number): Mark | null => {
      let best: Mark | null = null;
      let bestD = 12 * 12;
      for (const m of marks) {
        const dx = u.valToPos(m.at / 1000, 'x') - left;
        if (dx > 12 || dx < -12) continue;
        const dy = u.valToPos(LANES[m.kind], 'y') - top;
        const d = dx * dx + dy * dy;
        if (d <= bestD) {
          bestD = d;
          best = m;
        }
      }
      return best;
    };
    const opts: uPlot.Options = {
      width,
      height: 240,
      scales: { x: { time: true, range: [from / 1000, to / 1000] }, y: { range: [0.4, 4.6] } },
      axes: [
        {},
        { splits: () => [1, 2, 3, 4], values: (_u, splits) => splits.map((v) => LANE_NAMES[v] ?? ''), size: 72, grid: { show: true } },
      ],
      series: [
        {},
        ...SERIES.map((d) => ({
          label: d.label,
          stroke: d.color,
          paths: () => null,
          points: { show: true, size: 9, fill: d.color, stroke: d.color },
        })),
      ],
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { show: true, live: false },
      hooks: {
        drawClear: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.fillStyle = 'rgba(255, 193, 7, 0.22)';
            for (const p of paused) {
              const x0 = u.valToPos(Math.max(p.from, from) / 1000, 'x', true);
              const x1 = u.valToPos(Math.min(p.to, to) / 1000, 'x', true);
              ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height);
            }
            // a misfire covers a range of slots: drawn as a bar on its lane
            ctx.fillStyle = 'rgba(97, 97, 97, 0.35)';
            for (const m of marks) {
              if (m.kind !== 'missed' || m.firstMissedAt === undefined) continue;
              const x0 = u.valToPos(Math.max(m.firstMissedAt, from) / 1000, 'x', true);
              const x1 = u.valToPos(m.at / 1000, 'x', true);
              const y = u.valToPos(LANES.missed, 'y', true);
              ctx.fillRect(x0, y - 4, Math.max(2, x1 - x0), 8);
            }
            ctx.restore();
          },
        ],
        draw: [
          (u) => {
            const s = selectedRef.current;
            if (!s) return;
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = '#000';
            ctx.lineWidth = 2;
            ctx.beginPath();
            ctx.arc(u.valToPos(s.at / 1000, 'x', true), u.valToPos(LANES[s.kind], 'y', true), 9, 0, 2 * Math.PI);
            ctx.stroke();
            ctx.restore();
          },
        ],
        setCursor: [
          (u) => {
            const t = tip;
            const { left, top } = u.cursor;
            const m = left === undefined || top === undefined || left < 0 ? null : nearest(u, left, top);
            if (!m) {
              t.hidden = true;
              u.over.style.cursor = '';
              return;
            }
            t.hidden = false;
            t.textContent = `${markTitle(m)} — click to explain`;
            t.style.left = `${Math.min(u.valToPos(m.at / 1000, 'x') + 12, u.over.clientWidth - 260)}px`;
            t.style.top = `${u.valToPos(LANES[m.kind], 'y') + 10}px`;
            u.over.style.cursor = 'pointer';
          },
        ],
      },
    };
    const u = new uPlot(opts, [xs, ...ys] as uPlot.AlignedData, el);
    plot.current = u;
    const over = u.over;
    over.appendChild(tip);
    const click = (): void => {
      const { left, top } = u.cursor;
      if (left === undefined || top === undefined) return;
      const m = nearest(u, left, top);
      if (m) selectRef.current(m);
    };
    over.addEventListener('click', click);
    return () => {
      over.removeEventListener('click', click);
      u.destroy();
      plot.current = null;
    };
  }, [timeline, from, to, width]);

  useEffect(() => {
    plot.current?.redraw(false);
  }, [selected]);

  const count = (k: MarkKind): number => timeline.marks.filter((m) => m.kind === k).length;
  return (
    <div class="timeline">
      <div
        ref={box}
        class="timeline-chart"
        data-fired={count('fired')}
        data-skipped={count('skipped')}
        data-buffered={count('buffered')}
        data-missed={count('missed')}
        data-paused={timeline.paused.length}
      />
    </div>
  );
}
