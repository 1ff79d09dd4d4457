/**
 * The retraining pipeline's evaluation report as one self-contained HTML page: the gate table
 * that decided, the candidate's headline metrics beside production's, and its diagnostics
 * (permutation importance, mean |SHAP|, partial dependence of the top columns) as Vega-Lite
 * charts rendered to inline SVG. No script, no external resource.
 */
import type { GateRow, ParetoRow } from '../contracts/retraining.ts';
import type { GlobalDiagnostics } from '../core/explain/diagnostics.ts';
import { importanceSpec, pdpSpec, renderSvg } from './charts.ts';
import { escapeHtml, fmt } from './html.ts';

export interface EvaluationPage {
  readonly model: string;
  readonly execution: string;
  readonly candidate: { readonly manifestId: string; readonly algorithm: string };
  readonly production: { readonly version: number } | null;
  readonly decision: string;
  readonly table: readonly GateRow[];
  readonly metrics: Readonly<
    Record<string, { readonly candidate: number | null; readonly production: number | null }>
  >;
  readonly diagnostics: GlobalDiagnostics | null;
  /** The fairness mitigations tried, beside the unmitigated candidate. @default none tried */
  readonly mitigations?: readonly ParetoRow[];
}

export async function renderEvaluationHtml(page: EvaluationPage): Promise<string> {
  const title = `Keel evaluation: ${page.model} candidate ${page.candidate.manifestId}`;
  const gates = page.table
    .map(
      (r) =>
        `<tr class="${r.passed ? '' : 'd'}"><td>${r.gate}</td><td>${escapeHtml(r.check)}</td><td>${fmt(r.candidate, 4)}</td><td>${fmt(r.production, 4)}</td><td>${escapeHtml(r.threshold)}</td><td>${r.passed ? 'passed' : 'failed'}</td></tr>`,
    )
    .join('');
  const metrics = Object.entries(page.metrics)
    .map(
      ([k, v]) =>
        `<tr><td>${escapeHtml(k)}</td><td>${fmt(v.candidate, 4)}</td><td>${fmt(v.production, 4)}</td></tr>`,
    )
    .join('');
  const d = page.diagnostics;
  const diagnostics = d
    ? `<h2>What the candidate relies on</h2>
<p>Permutation importance on ${d.rows.importance.toLocaleString('en-US')} holdout rows (AUC ${fmt(d.baselineAuc, 4)}; bars: mean AUC drop over the shuffles, lines: ± 1 sd).</p>
<figure>${await renderSvg(importanceSpec(d))}</figure>
${
  d.meanAbsShap
    ? `<p>Mean |SHAP| (log-odds) on ${d.rows.shap.toLocaleString('en-US')} rows:</p><table><tr><th>column</th><th>mean |SHAP|</th></tr>${d.meanAbsShap
        .map((s) => `<tr><td>${escapeHtml(s.column)}</td><td>${fmt(s.meanAbs, 4)}</td></tr>`)
        .join('')}</table>`
    : '<p>No mean |SHAP|: the candidate has no explainer.</p>'
}
<h2>Partial dependence of the top columns</h2>
<p>Mean probability over ${d.rows.pdp.toLocaleString('en-US')} holdout rows with the column set to each grid value.</p>
<div class="grid">${(await Promise.all(d.pdp.map(async (p) => `<figure>${await renderSvg(pdpSpec(p))}</figure>`))).join('')}</div>`
    : '<p>No diagnostics were computed.</p>';
  const attributes = [...new Set((page.mitigations ?? []).flatMap((r) => Object.keys(r.fairness)))].sort();
  const verdict = (r: ParetoRow) =>
    (['performance', 'fairness', 'safety'] as const).every((g) => r.gates[g])
      ? 'every gate passed'
      : `failed: ${(['performance', 'fairness', 'safety'] as const).filter((g) => !r.gates[g]).join(', ')}`;
  const mitigations = page.mitigations
    ? `<h2>Fairness mitigations</h2>
<p>The candidate failed the fairness gate; each mitigation trained it again and went through every gate. Holdout figures at the decision threshold the gates used; ★ Pareto-optimal (no row at least as good on AUC, cost and every fairness figure, and better on one).</p>
<table><tr><th>method</th><th>constraint</th><th>AUC</th><th>cost / 1,000</th>${attributes
        .map(
          (a) =>
            `<th>DP ratio (${escapeHtml(a)})</th><th>EO diff (${escapeHtml(a)})</th><th>EOpp diff (${escapeHtml(a)})</th>`,
        )
        .join('')}<th>gates</th><th></th></tr>${page.mitigations
        .map(
          (r) =>
            `<tr><td>${escapeHtml(r.method)}</td><td>${escapeHtml(r.constraint ?? '—')}</td><td>${fmt(r.auc, 4)}</td><td>${fmt(r.costPer1000, 2)}</td>${attributes
              .map((a) => {
                const f = r.fairness[a] ?? {};
                return `<td>${fmt(f.demographicParityRatio ?? null, 3)}</td><td>${fmt(f.equalizedOddsDifference ?? null, 3)}</td><td>${fmt(f.equalOpportunityDifference ?? null, 3)}</td>`;
              })
              .join('')}<td>${escapeHtml(verdict(r))}</td><td>${r.paretoOptimal ? '★' : ''}</td></tr>`,
        )
        .join('')}</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
tr.d td{background:#ffebee}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1em}figure{margin:0}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>Pipeline execution ${escapeHtml(page.execution)}; ${escapeHtml(page.candidate.algorithm)} against ${page.production ? `production v${page.production.version}` : 'no production version'}. <strong>${escapeHtml(page.decision)}</strong></p>
<h2>Gates</h2>
<table><tr><th>gate</th><th>check</th><th>candidate</th><th>production</th><th>threshold</th><th></th></tr>${gates}</table>
${mitigations}
<h2>Holdout metrics</h2>
<table><tr><th></th><th>candidate</th><th>production</th></tr>${metrics}</table>
${diagnostics}
</body></html>
`;
}
