/**
 * The drift check's HTML report: one self-contained page (inline CSS and SVG, no script, no
 * external resource) that opens from S3 or a laptop alike and can be attached to a ticket.
 * Its charts are Vega-Lite specs (`charts.ts`) rendered to SVG in process.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Profile } from '../core/drift/profile.ts';
import { SCORE_COLUMN } from '../core/training/train.ts';
import { renderSvg } from '../reports/charts.ts';
import { escapeHtml, fmt } from '../reports/html.ts';
import {
  attributionSpec,
  bucketShares,
  distributionSpec,
  impactSpec,
  outcomeWeightsSpec,
  psiSpec,
} from './charts.ts';
import type { CheckReport } from './types.ts';

const money = (v: number | null | undefined, currency: string) =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '–'
    : `${currency} ${Math.round(v).toLocaleString('en-US')}`;

/**
 * A chart's SVG, or a line saying why it is missing: the report is written after the check has
 * judged, and a chart that fails to render must not fail the check or lose the rest of the page.
 */
export async function chart(spec: TopLevelSpec): Promise<string> {
  try {
    return await renderSvg(spec);
  } catch (error) {
    return `<p><em>Chart not drawn: ${escapeHtml(error instanceof Error ? error.message : String(error))}.</em></p>`;
  }
}

/** Why: the columns that moved the predictions and the money, and the outcome side. */
async function attributionSection(report: CheckReport): Promise<string> {
  const a = report.attribution;
  if (!a)
    return report.attributionReason
      ? `<h2>Why</h2><p>No attribution: ${escapeHtml(report.attributionReason)}.</p>`
      : '';
  const money = (v: number | undefined) =>
    v === undefined ? '–' : `${report.currency} ${Math.round(v).toLocaleString('en-US')}`;
  const inputs = a.inputs
    .map(
      (c) =>
        `<tr class="${c.significant ? 'd' : ''}"><td>${escapeHtml(c.column)}</td><td>${fmt(c.baseline)}</td><td>${fmt(c.current)}</td><td>${fmt(c.shift)} (${fmt(c.interval.lower)} to ${fmt(c.interval.upper)})</td><td>${money(c.moneyPerDay)}</td></tr>`,
    )
    .join('');
  const outcomes = a.outcomes
    ? `${await chart(outcomeWeightsSpec(a.outcomes))}<table><tr><th>column</th><th>weight in the outcomes (model: 1)</th><th>95 % interval</th><th>residual log-odds per sd</th></tr>${a.outcomes.columns
        .map(
          (c) =>
            `<tr class="${c.changed ? 'd' : ''}"><td>${escapeHtml(c.column)}</td><td>${fmt(c.weight)}</td><td>${fmt(c.interval.lower)} to ${fmt(c.interval.upper)}</td><td>${fmt(c.effect)}</td></tr>`,
        )
        .join('')}</table>`
    : `<p>Outcome side: ${escapeHtml(a.outcomesReason ?? 'not computed')}.</p>`;
  return `<h2>Why</h2>
<p><strong>${escapeHtml(a.summary)}</strong>.</p>
<p>Mean SHAP value (${escapeHtml(a.method)}, ${escapeHtml(a.featurePerturbation)}, log-odds) per raw column on ${a.rows.current} sampled rows of the window against ${a.rows.baseline} training rows; their changes add up to the change in mean log-odds, ${fmt(a.margin.change)} (${fmt(a.margin.interval.lower)} to ${fmt(a.margin.interval.upper)}). Money: each shift times what a log-odds of mean shift costs along the shift, ${money(a.moneyPerLogOdds)}/day; the drift estimate on the sample is ${money(a.moneyPerDay)}/day, of which ${money(a.moneyUnattributed)}/day is not from the inputs' mean shift.</p>
${a.inputs.length > 0 ? await chart(attributionSpec(a)) : ''}
<table><tr><th>column</th><th>training</th><th>now</th><th>shift (95 %)</th><th>money/day</th></tr>${inputs}</table>
<h3>Outcomes on ${a.rows.labelled} labelled decisions</h3>
${outcomes}`;
}

/** A private check says so first: every number below is a noisy count, or computed from them. */
function privacySection(report: CheckReport): string {
  const p = report.privacy;
  if (!p) return '';
  const worst = Object.entries(p.psiFromNoise).reduce((a, b) => (b[1].p95 > a[1].p95 ? b : a));
  return `<h2>Privacy</h2><p>A private check: every count in this report carries discrete Gaussian noise of scale σ = ${fmt(p.sigma)} (${p.histograms} histograms, entry ${p.entry} of the privacy ledger of ${escapeHtml(p.ledger)}, which stands at ε = ${fmt(p.epsilonAfter)} at δ = ${p.delta}). KS, Wasserstein, AUC, calibration and attributions read rows, and are not released. Noise alone reads as PSI up to ${fmt(worst[1].p95)} (95th percentile, ${escapeHtml(worst[0])}), against the warning threshold of ${fmt(report.thresholds.psiWarning)}.</p>`;
}

export async function renderReportHtml(
  report: CheckReport,
  profiles: { readonly baseline: Profile; readonly current: Profile },
): Promise<string> {
  const title = `Keel drift check: ${report.model}${report.version === null ? '' : ` v${report.version}`}`;
  const impact = report.impact;
  const o = report.outcomes;
  const featureRows = Object.entries(report.drift?.features ?? {})
    .map(
      ([name, f]) =>
        `<tr class="${f.drifted ? 'd' : f.warning ? 'w' : ''}"><td>${escapeHtml(name)}</td><td>${f.type}</td><td>${fmt(f.psi)}</td><td>${fmt(f.jensenShannon)}</td><td>${f.ks ? `${fmt(f.ks.statistic)} (p ${f.ks.pValue.toExponential(2)})` : f.chi2 ? `χ² ${fmt(f.chi2.statistic, 1)} (p ${f.chi2.pValue.toExponential(2)}, dof ${f.chi2.dof})` : '–'}</td><td>${f.wasserstein ? fmt(f.wasserstein.normalized) : '–'}</td><td>${f.drifted ? 'drifted' : f.warning ? 'warning' : 'ok'}</td></tr>`,
    )
    .join('');
  const columns = [...Object.keys(report.drift?.features ?? {}), SCORE_COLUMN].map((name) => ({
    name,
    label:
      name !== SCORE_COLUMN
        ? name
        : report.rows.scored > 0
          ? 'model score (prediction drift)'
          : // A version promoted within the window: its "current" bars are empty, and say why.
            `model score: none of the window's are v${report.version}'s yet`,
  }));
  const buckets = bucketShares(columns, profiles);
  const features = report.drift?.features ?? {};
  const [psi, distributions, costChart, why] = await Promise.all([
    Object.keys(features).length > 0 ? chart(psiSpec(features, report.thresholds)) : '',
    buckets.length > 0 ? chart(distributionSpec(buckets)) : '',
    impact ? chart(impactSpec(impact, report.currency)) : '',
    attributionSection(report),
  ]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}.status{display:inline-block;padding:.1em .6em;border-radius:4px;color:#fff}
.status.alert{background:#c62828}.status.warning{background:#ef6c00}.status.ok{background:#2e7d32}.status.no-data,.status.no-model{background:#757575}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
tr.d td{background:#ffebee}tr.w td{background:#fff3e0}
</style></head><body>
<h1>${escapeHtml(title)} <span class="status ${report.status}">${report.status}</span></h1>
<p>Window ${escapeHtml(report.window.from)} – ${escapeHtml(report.window.to)}; checked ${escapeHtml(report.checkedAt)}; ${report.rows.predictions.toLocaleString('en-US')} predictions (${report.rows.scored.toLocaleString('en-US')} scored by this version) from ${report.rows.files} files.</p>
<ul>${report.reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>
${privacySection(report)}
<h2>Business impact</h2>
${
  impact
    ? `<p>Money at risk <strong>${escapeHtml(money(impact.moneyAtRisk, report.currency))}</strong> per day (${Math.round(impact.interval.confidence * 100)} % interval of the cost change: ${escapeHtml(money(impact.interval.lower, report.currency))} to ${escapeHtml(money(impact.interval.upper, report.currency))}), estimated from ${impact.basis === 'outcomes' ? `${impact.rows} labelled decisions` : 'the score distribution (holdout reweighted to current scores)'}; cost per decision ${escapeHtml(money(impact.costPerDecision.current, report.currency))} now against ${escapeHtml(money(impact.costPerDecision.baseline, report.currency))} at training; budget ${escapeHtml(money(impact.dailyBudget, report.currency))} per day.</p>${costChart}`
    : '<p>Not estimated: the baseline has no record of its decisions.</p>'
}
${why}
<h2>Outcomes</h2>
${
  o
    ? `<table><tr><th></th><th>now</th><th>training holdout</th></tr>
<tr><td>labelled / served</td><td>${o.labelled} / ${o.predictions} (${fmt(o.coverage * 100, 1)} %; ${o.pending} pending, not counted as negatives)</td><td></td></tr>
<tr><td>AUC</td><td>${fmt(o.auc)}</td><td>${fmt(o.baseline.auc)}</td></tr>
<tr><td>precision at the serving threshold</td><td>${fmt(o.precision)}</td><td>${fmt(o.baseline.precision)}</td></tr>
<tr><td>recall at the serving threshold</td><td>${fmt(o.recall)}</td><td>${fmt(o.baseline.recall)}</td></tr>
<tr><td>calibration error (ECE)</td><td>${fmt(o.ece)}</td><td>${fmt(o.baseline.ece)}</td></tr></table>`
    : '<p>No outcomes.</p>'
}
<h2>Drift</h2>
<p>Share of drifted features ${fmt((report.drift?.shareDrifted ?? 0) * 100, 0)} %${report.drift?.datasetDrift ? ' — <strong>dataset drift</strong>' : ''}; prediction drift PSI ${fmt(report.predictionDrift?.psi)}.</p>
${psi}
<table><tr><th>feature</th><th>type</th><th>PSI</th><th>Jensen–Shannon</th><th>test</th><th>Wasserstein / sd</th><th></th></tr>${featureRows}</table>
<h3>Shares per bucket</h3>
${distributions}
</body></html>
`;
}
