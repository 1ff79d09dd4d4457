/**
 * A model card as Markdown (for a repository or a ticket), and the sections the HTML rendering
 * (`card-html.ts`, with charts) shares: both rendered from the stored card, never from anything
 * else, so the three formats say the same. No charting here: the serving API renders Markdown.
 */

import type { ModelCard } from '../contracts/card.ts';
import type { EvaluationReport } from '../core/evaluation/report.ts';
import { escapeHtml, fmt } from './html.ts';

type Row = readonly (string | number | null | undefined)[];

const cell = (v: string | number | null | undefined) =>
  v === null || v === undefined
    ? '–'
    : typeof v === 'number'
      ? Number.isInteger(v)
        ? v.toLocaleString('en-US')
        : fmt(v, 4)
      : v;

function markdownTable(header: readonly string[], rows: readonly Row[]): string {
  const cellText = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
  return [
    `| ${header.map(cellText).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map((v) => cellText(String(cell(v)))).join(' | ')} |`),
  ].join('\n');
}

export function htmlTable(header: readonly string[], rows: readonly Row[]): string {
  return `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(String(cell(v)))}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** The card's sections, each a title and a table or text, shared by both renderings. */
export function sections(
  card: ModelCard,
): { title: string; text?: string; header?: string[]; rows?: Row[] }[] {
  const { content, keel } = card;
  const overview = content.model_overview;
  const uses = content.intended_uses;
  const extra = content.additional_information;
  const metrics = (report: EvaluationReport | null) =>
    report
      ? [
          ['AUC', report.auc, report.intervals?.auc.lower, report.intervals?.auc.upper],
          ['log loss', report.logLoss, report.intervals?.logLoss.lower, report.intervals?.logLoss.upper],
          ['Brier', report.brier, report.intervals?.brier.lower, report.intervals?.brier.upper],
          ['accuracy', report.accuracy, report.intervals?.accuracy.lower, report.intervals?.accuracy.upper],
          ['ECE (calibration)', report.ece, null, null],
          // The threshold metrics' decision threshold: the cost-minimising one in the pipeline.
          ['decision threshold', report.threshold, null, null],
        ]
      : [];
  const fairness = (report: EvaluationReport | null) =>
    Object.entries(report?.fairness ?? {}).map(([attribute, f]) => [
      attribute,
      f.demographicParityRatio,
      f.equalizedOddsDifference,
      f.equalOpportunityDifference,
      f.fourFifthsRule ? 'yes' : 'no',
    ]);
  const segments = (report: EvaluationReport | null) =>
    Object.entries(report?.segments ?? {}).flatMap(([column, groups]) =>
      Object.entries(groups).map(([group, s]) => [
        `${column} = ${group}`,
        s.rows,
        s.auc,
        s.accuracy,
        s.selectionRate,
      ]),
    );
  return [
    {
      title: 'Model details',
      header: ['field', 'value'],
      rows: [
        ['name', String(overview.model_name)],
        ['version', String(overview.model_version)],
        ['status', keel.status],
        ['aliases', keel.aliases.join(', ') || 'none'],
        ['owner', String(overview.model_owner)],
        ['registered by', String(overview.model_creator)],
        ['algorithm', String(overview.algorithm_type)],
        ['artifact', (overview.model_artifact as string[]).join(', ')],
        ...Object.entries(extra.custom_details ?? {})
          .filter(([k]) =>
            ['keel.training_data_sha256', 'keel.feature_pipeline_version', 'keel.code_version'].includes(k),
          )
          .map(([k, v]) => [k.replace('keel.', '').replaceAll('_', ' '), v]),
        ['training', String(content.training_details.training_observations ?? '')],
        ['generated', `${card.generatedAt} (${card.trigger})`],
      ],
    },
    {
      title: 'Intended use and limitations',
      header: ['', ''],
      rows: [
        ['purpose', String(uses.purpose_of_model ?? '')],
        ['limitations', String(uses.factors_affecting_model_efficiency ?? '')],
        ['risk rating', String(uses.risk_rating ?? 'Unknown')],
        ...(uses.explanations_for_risk_rating ? [['why', String(uses.explanations_for_risk_rating)]] : []),
      ],
    },
    {
      title: 'Inputs',
      header: ['input', 'type', 'protected (read to decide)', 'PII'],
      rows: keel.inputs.map((i) => [i.name, i.type, i.protected ? 'yes' : 'no', i.pii ? 'yes' : 'no']),
    },
    ...(keel.features
      ? [
          {
            title: 'Features and their provenance',
            header: ['model input', 'sources', 'transformations', 'owners', 'assumptions'],
            rows: keel.features.map((f) => [
              f.name,
              f.sources.join(', '),
              f.transformations.join('; '),
              f.owners.join(', '),
              f.assumptions.join('; '),
            ]),
          },
        ]
      : [{ title: 'Features and their provenance', text: 'The feature pipeline is not in lineage.' }]),
    ...(keel.evaluation.missing
      ? [
          {
            title: 'Evaluation',
            text: `No evaluation is available for this version: ${keel.evaluation.missing}.`,
          },
        ]
      : [
          {
            title: 'Metrics on the holdout (95 % bootstrap intervals)',
            header: ['metric', 'value', 'lower', 'upper'],
            rows: metrics(keel.evaluation.holdout),
          },
          ...(keel.evaluation.production
            ? [
                {
                  title: 'Metrics on labelled production rows',
                  header: ['metric', 'value', 'lower', 'upper'],
                  rows: metrics(keel.evaluation.production),
                },
              ]
            : []),
          {
            title: 'Fairness on the holdout',
            header: [
              'attribute',
              'parity ratio',
              'equalised-odds diff.',
              'equal-opportunity diff.',
              'four-fifths',
            ],
            rows: fairness(keel.evaluation.holdout),
          },
          {
            title: 'Segments',
            header: ['segment', 'rows', 'AUC', 'accuracy', 'selection rate'],
            rows: segments(keel.evaluation.holdout),
          },
        ]),
    {
      title: 'Fairness mitigation',
      text: keel.mitigation
        ? `${keel.mitigation.method} for ${keel.mitigation.constraint} on ${keel.mitigation.attribute}: ${fmt(keel.mitigation.value)} on the holdout (bound ${keel.mitigation.bound}, ${keel.mitigation.met ? 'met' : 'not met'}).${keel.mitigation.attributeIsInput ? ` ${keel.mitigation.attribute} is a declared model input.` : ''}`
        : 'None applied.',
    },
    ...(keel.mitigations
      ? [
          {
            title: 'Mitigations tried (holdout)',
            header: ['method', 'constraint', 'AUC', 'cost / 1,000', 'gates passed', 'Pareto-optimal'],
            rows: keel.mitigations.map((m) => [
              m.method,
              m.constraint ?? '–',
              m.auc,
              m.costPer1000,
              Object.values(m.gates).every(Boolean)
                ? 'all'
                : Object.entries(m.gates)
                    .filter(([, v]) => !v)
                    .map(([k]) => `not ${k}`)
                    .join(', '),
              m.paretoOptimal ? '★' : '',
            ]),
          },
        ]
      : []),
    {
      title: 'Known biases',
      text: keel.knownBiases.length > 0 ? keel.knownBiases.join('. ') : 'None found on the holdout.',
    },
    {
      title: 'Explanations: top features',
      ...(keel.topFeatures
        ? {
            header: ['column', 'AUC drop when permuted', 'sd'],
            rows: keel.topFeatures.map((t) => [t.column, t.aucDrop, t.std]),
          }
        : { text: 'No importance was computed for this version (the retraining pipeline computes it).' }),
    },
    {
      title: 'Drift history',
      ...(keel.driftHistory.length > 0
        ? { header: ['at', 'finding'], rows: keel.driftHistory.map((d) => [d.at, d.reason]) }
        : { text: 'No drift check has flagged this version.' }),
    },
    {
      title: 'Approvals',
      header: ['at', 'who', 'status', 'why'],
      rows: keel.approvals.map((a) => [a.at, a.actor, a.status, a.reason]),
    },
    {
      title: 'Deployment history',
      ...(keel.deployments.length > 0
        ? {
            header: ['at', 'who', 'what', 'why'],
            rows: keel.deployments.map((d) => [d.at, d.actor, d.event, d.reason]),
          }
        : { text: 'Never deployed.' }),
    },
    { title: 'Ethical considerations', text: String(extra.ethical_considerations ?? '') },
    { title: 'Caveats and recommendations', text: String(extra.caveats_and_recommendations ?? '') },
    {
      title: 'Privacy',
      text: keel.privacy
        ? `Trained with differential privacy (DP-SGD): ε = ${keel.privacy.epsilon.toFixed(3)} at δ = ${keel.privacy.delta} on the ${keel.privacy.rows} rows it was fitted on, by the ${keel.privacy.accountant} accountant from noise multiplier ${keel.privacy.noiseMultiplier.toFixed(3)}, sample rate ${keel.privacy.sampleRate.toFixed(5)}, ${keel.privacy.steps} steps and clipping norm ${keel.privacy.clip}.${keel.privacy.noise === 'seeded' ? ' Its noise was drawn from a seeded generator (reproducible, and not private to whoever holds the seed).' : ''} Its feature pipeline's statistics were declared, not learnt. The holdout that evaluated it is not covered.${keel.privacy.ledger ? ` The spend is entry ${keel.privacy.ledger.seq} of the privacy ledger of ${keel.privacy.ledger.name}, which composes it with every other private release from that data source.` : ''}`
        : 'No differential privacy was applied: no privacy budget applies.',
    },
    {
      title: 'Stale-feature review',
      text: [
        keel.featureReview
          ? `Reviewed ${keel.featureReview.at} on ${keel.featureReview.rows} labelled decisions up to ${keel.featureReview.asOf}: ${keel.featureReview.summary}. The review: ${keel.featureReview.uri}.`
          : 'No review has looked at this version yet.',
        keel.droppedFeatures
          ? `This version was trained without ${keel.droppedFeatures.join(', ')}, which a review flagged.`
          : '',
      ]
        .filter(Boolean)
        .join(' '),
    },
  ];
}

export function renderCardMarkdown(card: ModelCard): string {
  const parts = [`# Model card: ${card.model} version ${card.version}`, ''];
  for (const s of sections(card)) {
    parts.push(`## ${s.title}`, '');
    if (s.text !== undefined) parts.push(s.text, '');
    if (s.header && s.rows) parts.push(s.rows.length > 0 ? markdownTable(s.header, s.rows) : '_none_', '');
  }
  return `${parts.join('\n').trimEnd()}\n`;
}
