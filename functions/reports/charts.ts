/**
 * Charts of Keel's HTML reports, as Vega-Lite specs rendered to SVG in process (Vega's headless
 * `toSVG`, no canvas, no browser, no network: data is inlined). The SVG is self-contained, so a
 * report is one file a risk committee can open anywhere.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { GlobalDiagnostics } from '../core/explain/diagnostics.ts';

const FONT = { font: 'system-ui, sans-serif', labelFontSize: 11, titleFontSize: 12 };

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Permutation importance as bars with their spread (± 1 sd), largest first. */
export function importanceSpec(d: GlobalDiagnostics): TopLevelSpec {
  const values = d.permutation.map((p) => ({
    column: p.column,
    drop: p.aucDrop,
    low: p.aucDrop - p.std,
    high: p.aucDrop + p.std,
  }));
  const order = values.map((v) => v.column);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 420,
    height: { step: 22 },
    config: { axis: FONT },
    data: { values },
    layer: [
      {
        mark: { type: 'bar', color: '#1e88e5' },
        encoding: {
          y: { field: 'column', type: 'nominal', sort: order, title: null },
          x: { field: 'drop', type: 'quantitative', title: 'AUC drop when shuffled' },
        },
      },
      {
        mark: { type: 'rule', color: '#263238' },
        encoding: {
          y: { field: 'column', type: 'nominal', sort: order },
          x: { field: 'low', type: 'quantitative' },
          x2: { field: 'high' },
        },
      },
    ],
  };
}

/** Partial dependence of the probability on one column: a line (numeric) or bars (categorical). */
export function pdpSpec(entry: GlobalDiagnostics['pdp'][number]): TopLevelSpec {
  const values = (entry.grid as readonly (number | string)[]).map((v, k) => ({
    value: v,
    p: entry.average[k],
  }));
  const numeric = typeof entry.grid[0] === 'number';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 300,
    height: 160,
    title: { text: entry.column, fontSize: 13 },
    config: { axis: FONT },
    data: { values },
    mark: numeric ? { type: 'line', point: true, color: '#1e88e5' } : { type: 'bar', color: '#1e88e5' },
    encoding: {
      x: numeric
        ? { field: 'value', type: 'quantitative', title: entry.column, scale: { zero: false } }
        : { field: 'value', type: 'nominal', title: entry.column, sort: null },
      y: { field: 'p', type: 'quantitative', title: 'mean P(label = 1)', scale: { zero: false } },
    },
  };
}
