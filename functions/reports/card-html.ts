/**
 * A model card as one self-contained HTML file with its charts (calibration, selection rate
 * per group) as inline SVG, for a risk committee: the Markdown's sections, rendered from the
 * stored card.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { ModelCard } from '../contracts/card.ts';
import type { EvaluationReport } from '../core/evaluation/report.ts';
import { htmlTable, sections } from './card.ts';
import { renderSvg } from './charts.ts';
import { escapeHtml } from './html.ts';

const FONT = { font: 'system-ui, sans-serif', labelFontSize: 11, titleFontSize: 12 };

function reliabilitySpec(report: EvaluationReport): TopLevelSpec {
  const values = report.reliability
    .filter((b) => b.count > 0)
    .map((b) => ({ predicted: b.meanPredicted, observed: b.fractionPositive }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 260,
    height: 220,
    title: { text: 'Calibration (holdout)', fontSize: 13 },
    config: { axis: FONT },
    layer: [
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: 'line', color: '#bbb', strokeDash: [4, 4] },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'line', point: true, color: '#1e88e5' },
        encoding: {
          x: { field: 'predicted', type: 'quantitative', title: 'mean predicted', scale: { domain: [0, 1] } },
          y: { field: 'observed', type: 'quantitative', title: 'observed rate', scale: { domain: [0, 1] } },
        },
      },
    ],
  };
}

function selectionSpec(attribute: string, report: EvaluationReport): TopLevelSpec {
  const groups = report.fairness[attribute]?.groups ?? {};
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 260,
    height: { step: 24 },
    title: { text: `Selection rate by ${attribute}`, fontSize: 13 },
    config: { axis: FONT },
    data: { values: Object.entries(groups).map(([group, g]) => ({ group, rate: g.selectionRate })) },
    mark: { type: 'bar', color: '#43a047' },
    encoding: {
      y: { field: 'group', type: 'nominal', title: null, sort: null },
      x: { field: 'rate', type: 'quantitative', title: 'selection rate' },
    },
  };
}

/** One self-contained HTML file: the card's sections and its charts as inline SVG. */
export async function renderCardHtml(card: ModelCard): Promise<string> {
  const holdout = card.keel.evaluation.holdout;
  const charts = holdout
    ? [
        await renderSvg(reliabilitySpec(holdout)),
        ...(await Promise.all(
          Object.keys(holdout.fairness).map((a) => renderSvg(selectionSpec(a, holdout))),
        )),
      ]
    : [];
  const body = sections(card)
    .map(
      (s) =>
        `<section><h2>${escapeHtml(s.title)}</h2>${s.text !== undefined ? `<p>${escapeHtml(s.text)}</p>` : ''}${
          s.header && s.rows ? (s.rows.length > 0 ? htmlTable(s.header, s.rows) : '<p><em>none</em></p>') : ''
        }</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: ${escapeHtml(card.model)} v${card.version}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;font-size:.9em;vertical-align:top}th{background:#f5f5f5}.charts{display:flex;flex-wrap:wrap;gap:1em}</style>
</head><body>
<h1>Model card: ${escapeHtml(card.model)} version ${card.version}</h1>
${charts.length > 0 ? `<div class="charts">${charts.join('\n')}</div>` : ''}
${body}
</body></html>
`;
}
