/**
 * The lineage of a model version as a tree: artifact, feature pipeline, training data, code,
 * pipeline execution, evaluation, and the parent version it was retrained from, recursively.
 */
import { IntegrityError, NotFoundError } from '../kernel/errors.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { ModelRegistry, ModelVersion } from './registry.ts';

/** `verified`: bytes hash to the address; `present`: the object exists; `external`: not in Keel's lineage bucket. */
export type ArtifactCheck = 'verified' | 'present' | 'missing' | 'corrupt' | 'external';

export interface LineageNode {
  readonly label: string;
  readonly check?: ArtifactCheck;
  readonly children: readonly LineageNode[];
}

export interface LineageOptions {
  /** Download and hash every artifact instead of checking that it exists. @default false */
  readonly verify?: boolean;
  /** How many parent generations to follow. @default 10 */
  readonly depth?: number;
}

async function check(lineage: LineageStore, uri: string, verify: boolean): Promise<ArtifactCheck> {
  const ref = lineage.refOf(uri);
  if (ref === undefined) return 'external';
  if (!verify) return (await lineage.exists(ref)) ? 'present' : 'missing';
  try {
    await lineage.getBytes(ref);
    return 'verified';
  } catch (error) {
    if (error instanceof IntegrityError) return 'corrupt';
    if (error instanceof NotFoundError) return 'missing';
    throw error;
  }
}

const short = (sha: string) => `${sha.slice(0, 12)}…`;

/** The nodes of a tree whose artifact is corrupt or missing. */
export function brokenArtifacts(node: LineageNode): LineageNode[] {
  const own = node.check === 'corrupt' || node.check === 'missing' ? [node] : [];
  return [...own, ...node.children.flatMap(brokenArtifacts)];
}

async function htmlReport(lineage: LineageStore, uri: string, verify: boolean): Promise<LineageNode> {
  return {
    label: `report (HTML, with importance and partial dependence) ${uri}`,
    check: await check(lineage, uri, verify),
    children: [],
  };
}

export async function lineageTree(
  registry: ModelRegistry,
  lineage: LineageStore,
  model: string,
  ref: number | string,
  options: LineageOptions = {},
): Promise<LineageNode> {
  const version = await registry.get(model, ref);
  return nodeOf(registry, lineage, version, options.verify ?? false, options.depth ?? 10);
}

async function nodeOf(
  registry: ModelRegistry,
  lineage: LineageStore,
  v: ModelVersion,
  verify: boolean,
  depth: number,
): Promise<LineageNode> {
  const m = v.metadata;
  const aliases = v.aliases.length > 0 ? `; ${v.aliases.join(', ')}` : '';
  const children: LineageNode[] = [
    {
      label: `model artifact ${short(m.artifact.sha256)} (${m.framework}) ${m.artifact.uri}`,
      check: await check(lineage, m.artifact.uri, verify),
      children: [],
    },
    {
      label: `feature pipeline ${short(m.featurePipeline.version)}${m.featurePipeline.uri ? ` ${m.featurePipeline.uri}` : ''}`,
      ...(m.featurePipeline.uri ? { check: await check(lineage, m.featurePipeline.uri, verify) } : {}),
      children: [],
    },
    {
      label: 'training data',
      children: await Promise.all(
        m.trainingData.map(async (d) => ({
          label: `${d.name} ${short(d.sha256)}${d.rows === undefined ? '' : ` (${d.rows} rows)`} ${d.uri}`,
          check: await check(lineage, d.uri, verify),
          children: [],
        })),
      ),
    },
    { label: `code ${m.codeVersion}`, children: [] },
    { label: `seed ${m.seed}; hyperparameters ${JSON.stringify(m.hyperparameters)}`, children: [] },
  ];
  if (m.pipelineExecution)
    children.push({ label: `pipeline execution ${m.pipelineExecution}`, children: [] });
  const metrics = Object.entries(m.evaluation.metrics)
    .map(([k, x]) => `${k}=${Number(x.toFixed(4))}`)
    .join(' ');
  children.push({
    label: `evaluation ${metrics || '(no metrics)'}`,
    ...(m.evaluation.report ? { check: await check(lineage, m.evaluation.report.uri, verify) } : {}),
    children: m.tags.evaluationHtml
      ? [
          await htmlReport(
            lineage,
            lineage.uriOf({ kind: 'evaluations', sha256: m.tags.evaluationHtml }),
            verify,
          ),
        ]
      : [],
  });
  if (m.explainer)
    children.push({
      label: `explainer ${short(m.explainer.sha256)}${m.tags.topFeatures ? `; relies most on ${m.tags.topFeatures}` : ''} ${m.explainer.uri}`,
      check: await check(lineage, m.explainer.uri, verify),
      children: [],
    });
  if (m.parent) {
    if (depth <= 0) {
      children.push({ label: `parent ${m.parent.model}@${m.parent.version} (depth limit)`, children: [] });
    } else {
      try {
        const parent = await registry.get(m.parent.model, m.parent.version);
        const node = await nodeOf(registry, lineage, parent, verify, depth - 1);
        children.push({ ...node, label: `parent ${node.label}` });
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        children.push({
          label: `parent ${m.parent.model}@${m.parent.version}`,
          check: 'missing',
          children: [],
        });
      }
    }
  }
  return {
    label: `${v.model}@${v.version} (${v.status}${aliases}) registered ${v.registeredAt} by ${v.registeredBy}`,
    children,
  };
}

const MARK: Readonly<Record<ArtifactCheck, string>> = {
  verified: '✓ verified',
  present: '✓',
  missing: '✗ MISSING',
  corrupt: '✗ CORRUPT',
  external: '(external)',
};

/** Renders a tree with box-drawing characters, one node per line. */
export function renderTree(node: LineageNode): string {
  const lines: string[] = [];
  const walk = (n: LineageNode, prefix: string, childPrefix: string) => {
    lines.push(`${prefix}${n.label}${n.check ? `  ${MARK[n.check]}` : ''}`);
    n.children.forEach((child, i) => {
      const last = i === n.children.length - 1;
      walk(child, `${childPrefix}${last ? '└─ ' : '├─ '}`, `${childPrefix}${last ? '   ' : '│  '}`);
    });
  };
  walk(node, '', '');
  return lines.join('\n');
}
