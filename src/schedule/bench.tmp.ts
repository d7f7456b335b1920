import { compileSchedule } from './index.js';
const s = compileSchedule({ kind: 'cron', expression: '* * * * *', timezone: 'Europe/Berlin' }, { startAt: null, endAt: null, anchor: 0 });
const from = Date.parse('2025-01-01T00:00:00Z'), to = Date.parse('2026-01-01T00:00:00Z') - 1;
for (let r = 0; r < 8; r++) {
  const t0 = performance.now();
  s.slotsBetween(from + r * 1000, to);
  console.log(r, (performance.now() - t0).toFixed(3));
}
const t0 = performance.now();
for (let i = 0; i < 2000; i++) s.slotsBetween(from + i * 1000, to);
console.log('steady', ((performance.now() - t0) / 2000).toFixed(4));
