/**
 * The drift check's HTML report: one self-contained page (inline CSS and SVG, no script, no
 * external resource) that opens from S3 or a laptop alike and can be attached to a ticket.
 * Its histograms are hand-written SVG, from before Keel rendered Vega-Lite headless
 * (`reports/charts.ts`, which the evaluation report uses); moving them is a follow-up.
 */
import type { CategoricalProfile, NumericProfile, Profile } from '../core/drift/profile.ts';
import { SCORE_COLUMN } from '../core/training/train.ts';
import { escapeHtml, fmt } from '../reports/html.ts';
import type { CheckReport } from './types.ts';

const money = (v: number | null | undefined, currency: string) =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '–'
    : `${currency} ${Math.round(v).toLocaleString('en-US')}`;

const shares = (counts: readonly number[]) => {
  const total = counts.reduce((s, v) => s + v, 0);
  return counts.map((v) => (total > 0 ? v / total : 0));
};

/** Side-by-side bars of baseline and current shares per bucket. */
function barChart(
  labels: readonly string[],
  baseline: readonly number[],
  current: readonly number[],
): string {
  const width = 520;
  const height = 160;
  const pad = 24;
  const slot = (width - pad) / Math.max(1, labels.length);
  const top = Math.max(0.0001, ...baseline, ...current);
  const y = (v: number) => height - pad - (v / top) * (height - 2 * pad);
  const bars = labels
    .map((label, i) => {
      const x = pad + i * slot;
      const w = Math.max(1, slot / 2 - 2);
      const b = baseline[i] ?? 0;
      const c = current[i] ?? 0;
      return (
        `<rect class="b" x="${x.toFixed(1)}" y="${y(b).toFixed(1)}" width="${w.toFixed(1)}" height="${(height - pad - y(b)).toFixed(1)}"><title>${escapeHtml(label)} baseline ${(b * 100).toFixed(1)} %</title></rect>` +
        `<rect class="c" x="${(x + w + 1).toFixed(1)}" y="${y(c).toFixed(1)}" width="${w.toFixed(1)}" height="${(height - pad - y(c)).toFixed(1)}"><title>${escapeHtml(label)} current ${(c * 100).toFixed(1)} %</title></rect>` +
        `<text x="${(x + w).toFixed(1)}" y="${height - 6}" text-anchor="middle">${escapeHtml(label.length > 10 ? `${label.slice(0, 9)}…` : label)}</text>`
      );
    })
    .join('');
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">${bars}<line x1="${pad}" y1="${height - pad}" x2="${width}" y2="${height - pad}" class="axis"/></svg>`;
}

function histogram(base: Profile['columns'][string], cur: Profile['columns'][string] | undefined): string {
  if (base.kind === 'numeric') {
    const b = base as NumericProfile;
    const c = cur?.kind === 'numeric' ? (cur as NumericProfile) : undefined;
    const labels = [
      ...b.edges.map((e) => `≤${e.toPrecision(3)}`),
      `>${(b.edges.at(-1) ?? 0).toPrecision(3)}`,
      'missing',
    ];
    return barChart(labels, shares([...b.counts, b.missing]), shares(c ? [...c.counts, c.missing] : []));
  }
  const b = base as CategoricalProfile;
  const c = cur?.kind === 'categorical' ? (cur as CategoricalProfile) : undefined;
  const categories = [...new Set([...Object.keys(b.counts), ...Object.keys(c?.counts ?? {})])];
  return barChart(
    [...categories, 'missing'],
    shares([...categories.map((k) => b.counts[k] ?? 0), b.missing]),
    shares([...categories.map((k) => c?.counts[k] ?? 0), c?.missing ?? 0]),
  );
}

/** Horizontal bars of each feature's PSI against the warning and drift thresholds. */
function psiChart(report: CheckReport): string {
  const rows = Object.entries(report.drift?.features ?? {});
  const width = 520;
  const row = 22;
  const height = row * rows.length + 30;
  const top = Math.max(report.thresholds.psiDrift * 1.5, ...rows.map(([, f]) => f.psi));
  const x = (v: number) => 140 + (Math.min(v, top) / top) * (width - 150);
  const bars = rows
    .map(([name, f], i) => {
      const cls = f.drifted ? 'd' : f.warning ? 'w' : 'o';
      return `<text x="134" y="${i * row + 16}" text-anchor="end">${escapeHtml(name)}</text><rect class="${cls}" x="140" y="${i * row + 4}" width="${(x(f.psi) - 140).toFixed(1)}" height="${row - 8}"><title>PSI ${fmt(f.psi)}</title></rect>`;
    })
    .join('');
  const line = (v: number, label: string) =>
    `<line x1="${x(v).toFixed(1)}" y1="0" x2="${x(v).toFixed(1)}" y2="${height - 20}" class="t"/><text x="${x(v).toFixed(1)}" y="${height - 6}" text-anchor="middle">${label} ${v}</text>`;
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">${bars}${line(report.thresholds.psiWarning, 'warning')}${line(report.thresholds.psiDrift, 'drift')}</svg>`;
}

/** Money at risk and its interval against the budget. */
function impactChart(report: CheckReport): string {
  const impact = report.impact;
  if (!impact) return '';
  const width = 520;
  const lo = Math.min(0, impact.interval.lower);
  const hi = Math.max(impact.dailyBudget, impact.interval.upper) * 1.1 || 1;
  const x = (v: number) => 20 + ((v - lo) / (hi - lo)) * (width - 40);
  return `<svg viewBox="0 0 ${width} 60" width="${width}" height="60" role="img"><line x1="${x(impact.interval.lower).toFixed(1)}" y1="20" x2="${x(impact.interval.upper).toFixed(1)}" y2="20" class="ci"/><circle cx="${x(impact.costChangePerDay).toFixed(1)}" cy="20" r="5" class="${impact.overBudget ? 'd' : 'o'}"/><line x1="${x(impact.dailyBudget).toFixed(1)}" y1="5" x2="${x(impact.dailyBudget).toFixed(1)}" y2="35" class="t"/><text x="${x(impact.dailyBudget).toFixed(1)}" y="52" text-anchor="middle">budget ${escapeHtml(money(impact.dailyBudget, report.currency))}</text><line x1="${x(0).toFixed(1)}" y1="12" x2="${x(0).toFixed(1)}" y2="28" class="axis"/></svg>`;
}

/** Why: the columns that moved the predictions and the money, and the outcome side. */
function attributionSection(report: CheckReport): string {
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
    ? `<table><tr><th>column</th><th>weight in the outcomes (model: 1)</th><th>95 % interval</th><th>residual log-odds per sd</th></tr>${a.outcomes.columns
        .map(
          (c) =>
            `<tr class="${c.changed ? 'd' : ''}"><td>${escapeHtml(c.column)}</td><td>${fmt(c.weight)}</td><td>${fmt(c.interval.lower)} to ${fmt(c.interval.upper)}</td><td>${fmt(c.effect)}</td></tr>`,
        )
        .join('')}</table>`
    : `<p>Outcome side: ${escapeHtml(a.outcomesReason ?? 'not computed')}.</p>`;
  return `<h2>Why</h2>
<p><strong>${escapeHtml(a.summary)}</strong>.</p>
<p>Mean SHAP value (${escapeHtml(a.method)}, ${escapeHtml(a.featurePerturbation)}, log-odds) per raw column on ${a.rows.current} sampled rows of the window against ${a.rows.baseline} training rows; their changes add up to the change in mean log-odds, ${fmt(a.margin.change)} (${fmt(a.margin.interval.lower)} to ${fmt(a.margin.interval.upper)}). Money: each shift times what a log-odds of mean shift costs along the shift, ${money(a.moneyPerLogOdds)}/day; the drift estimate on the sample is ${money(a.moneyPerDay)}/day, of which ${money(a.moneyUnattributed)}/day is not from the inputs' mean shift.</p>
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

export function renderReportHtml(
  report: CheckReport,
  profiles: { readonly baseline: Profile; readonly current: Profile },
): string {
  const title = `Keel drift check: ${report.model}${report.version === null ? '' : ` v${report.version}`}`;
  const impact = report.impact;
  const o = report.outcomes;
  const featureRows = Object.entries(report.drift?.features ?? {})
    .map(
      ([name, f]) =>
        `<tr class="${f.drifted ? 'd' : f.warning ? 'w' : ''}"><td>${escapeHtml(name)}</td><td>${f.type}</td><td>${fmt(f.psi)}</td><td>${fmt(f.jensenShannon)}</td><td>${f.ks ? `${fmt(f.ks.statistic)} (p ${f.ks.pValue.toExponential(2)})` : f.chi2 ? `χ² ${fmt(f.chi2.statistic, 1)} (p ${f.chi2.pValue.toExponential(2)}, dof ${f.chi2.dof})` : '–'}</td><td>${f.wasserstein ? fmt(f.wasserstein.normalized) : '–'}</td><td>${f.drifted ? 'drifted' : f.warning ? 'warning' : 'ok'}</td></tr>`,
    )
    .join('');
  const charts = [...Object.keys(report.drift?.features ?? {}), SCORE_COLUMN]
    .flatMap((name) => {
      const base = profiles.baseline.columns[name];
      if (!base) return [];
      const label = name === SCORE_COLUMN ? 'model score (prediction drift)' : name;
      return [
        `<figure><figcaption>${escapeHtml(label)}</figcaption>${histogram(base, profiles.current.columns[name])}</figure>`,
      ];
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}.status{display:inline-block;padding:.1em .6em;border-radius:4px;color:#fff}
.status.alert{background:#c62828}.status.warning{background:#ef6c00}.status.ok{background:#2e7d32}.status.no-data,.status.no-model{background:#757575}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
tr.d td{background:#ffebee}tr.w td{background:#fff3e0}
svg text{font-size:10px;fill:#444}rect.b{fill:#90a4ae}rect.c{fill:#1e88e5}rect.d{fill:#c62828}rect.w{fill:#ef6c00}rect.o{fill:#66bb6a}
circle.d{fill:#c62828}circle.o{fill:#2e7d32}line.t{stroke:#c62828;stroke-dasharray:4 3}line.axis{stroke:#888}line.ci{stroke:#1e88e5;stroke-width:4}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:1em}figure{margin:0}figcaption{font-weight:600}
.legend span{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}
</style></head><body>
<h1>${escapeHtml(title)} <span class="status ${report.status}">${report.status}</span></h1>
<p>Window ${escapeHtml(report.window.from)} – ${escapeHtml(report.window.to)}; checked ${escapeHtml(report.checkedAt)}; ${report.rows.predictions.toLocaleString('en-US')} predictions (${report.rows.scored.toLocaleString('en-US')} scored by this version) from ${report.rows.files} files.</p>
<ul>${report.reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>
${privacySection(report)}
<h2>Business impact</h2>
${
  impact
    ? `<p>Money at risk <strong>${escapeHtml(money(impact.moneyAtRisk, report.currency))}</strong> per day (${Math.round(impact.interval.confidence * 100)} % interval of the cost change: ${escapeHtml(money(impact.interval.lower, report.currency))} to ${escapeHtml(money(impact.interval.upper, report.currency))}), estimated from ${impact.basis === 'outcomes' ? `${impact.rows} labelled decisions` : 'the score distribution (holdout reweighted to current scores)'}; cost per decision ${escapeHtml(money(impact.costPerDecision.current, report.currency))} now against ${escapeHtml(money(impact.costPerDecision.baseline, report.currency))} at training; budget ${escapeHtml(money(impact.dailyBudget, report.currency))} per day.</p>${impactChart(report)}`
    : '<p>Not estimated: the baseline has no record of its decisions.</p>'
}
${attributionSection(report)}
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
${psiChart(report)}
<table><tr><th>feature</th><th>type</th><th>PSI</th><th>Jensen–Shannon</th><th>test</th><th>Wasserstein / sd</th><th></th></tr>${featureRows}</table>
<p class="legend">Shares per bucket:<span style="background:#90a4ae"></span>baseline<span style="background:#1e88e5"></span>current</p>
<div class="grid">${charts}</div>
</body></html>
`;
}
