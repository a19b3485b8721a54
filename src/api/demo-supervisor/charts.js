// The overview's two charts, drawn with uPlot (served by Kefu from node_modules): contacts per interval
// (queued, handled, abandoned) and the rates per interval (answer rate, service level), on a time axis in
// the instance's time zone.
import uPlot from '/demo/vendor/uplot/uPlot.esm.js';

const size = { width: 520, height: 240 };

function axisIn(timeZone) {
  return (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone);
}

const bars = uPlot.paths.bars({ size: [0.8, 40] });

/** A chart that is built on its first data and then only fed new data (a new time zone rebuilds it). */
class Chart {
  constructor(element, options) {
    this.element = element;
    this.options = options;
    this.plot = null;
    this.timeZone = null;
  }

  update(data, timeZone) {
    if (this.plot && this.timeZone === timeZone) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.timeZone = timeZone;
    this.plot = new uPlot({ ...size, ...this.options, tzDate: axisIn(timeZone) }, data, this.element);
  }
}

/** Contacts per interval: queued, handled and abandoned. */
export function volumeChart(element) {
  const chart = new Chart(element, {
    title: 'Contacts per interval',
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    series: [
      {},
      { label: 'Queued', stroke: '#0969da', fill: 'rgba(9,105,218,.15)', paths: bars },
      { label: 'Handled', stroke: '#1a7f37', width: 2 },
      { label: 'Abandoned', stroke: '#cf222e', width: 2 },
    ],
  });
  return {
    update(slice, timeZone) {
      const rows = slice?.intervals ?? [];
      chart.update(
        [
          rows.map((r) => Date.parse(r.intervalStart) / 1000),
          rows.map((r) => r.metrics.queued),
          rows.map((r) => r.metrics.handled),
          rows.map((r) => r.metrics.abandoned),
        ],
        timeZone,
      );
    },
  };
}

/** Answer rate and service level per interval, in percent (gaps where nothing was queued). */
export function ratesChart(element) {
  const percent = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
  const chart = new Chart(element, {
    title: 'Answer rate and service level (%)',
    scales: { y: { range: [0, 100] } },
    series: [
      {},
      { label: 'Answer rate', stroke: '#1a7f37', width: 2, spanGaps: false },
      { label: 'Service level', stroke: '#8250df', width: 2, spanGaps: false },
    ],
  });
  return {
    update(slice, timeZone) {
      const rows = slice?.intervals ?? [];
      chart.update(
        [rows.map((r) => Date.parse(r.intervalStart) / 1000), rows.map((r) => percent(r.metrics.answerRate)), rows.map((r) => percent(r.metrics.serviceLevel))],
        timeZone,
      );
    },
  };
}
