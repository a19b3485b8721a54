// The sample Grafana dashboard (examples/grafana/kefu-dashboard.json) asks only for metrics Kefu exports, so a
// renamed metric cannot leave a silently empty panel.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KefuMetrics } from '../../src/adapters/observability/metrics.ts';

const dashboard = JSON.parse(readFileSync(new URL('../../examples/grafana/kefu-dashboard.json', import.meta.url), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[]; gridPos: { x: number; w: number } }[];
};

describe('the sample Grafana dashboard', () => {
  it('uses only metrics Kefu exports', async () => {
    const metrics = new KefuMetrics({ token: 'dashboard-check-token-123' });
    const families = (await metrics.registry.getMetricsAsJSON()).flatMap((m) => (String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]));
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\bkefu_[a-z0-9_]+/g) ?? [])));
    expect(used.size).toBeGreaterThan(15);
    for (const name of used) expect(families, name).toContain(name);
  });

  it('is laid out on Grafana\'s 24-column grid', () => {
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });
});
