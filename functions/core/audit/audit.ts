/**
 * Data audit: checks a table before training and reports findings with a threshold and a
 * severity each. A report passes when no finding is critical. Pure: the caller stores the
 * JSON report in lineage.
 */

import type { Column, Table } from '../data/table.ts';
import { cell } from '../data/table.ts';
import { type ColumnShift, columnShift } from '../drift/statistics.ts';

export type Severity = 'warning' | 'critical';

export interface Finding {
  readonly check:
    | 'missing-rate'
    | 'constant'
    | 'near-constant'
    | 'cardinality'
    | 'out-of-range'
    | 'duplicate-rows'
    | 'label-conflict'
    | 'label-not-binary'
    | 'class-imbalance'
    | 'shift'
    | 'schema-mismatch'
    | 'empty';
  readonly column?: string;
  readonly value: number;
  readonly threshold: number;
  readonly severity: Severity;
  readonly message: string;
}

/** A limit per check: exceeding `warning` warns, exceeding `critical` fails the audit. */
export interface Limits {
  readonly warning: number;
  readonly critical: number;
}

export interface AuditThresholds {
  /** Share of missing values in a feature. @default warning 0.2, critical 0.5 */
  readonly missingRate: Limits;
  /** Share of the most frequent value above which a column is near-constant (warning). @default 0.99 */
  readonly nearConstant: number;
  /** Distinct categories, as a share of rows, above which a column looks like an identifier. @default 0.5 */
  readonly cardinalityShare: number;
  /** Share of values outside the declared range or categories. @default warning 0, critical 0.01 */
  readonly outOfRange: Limits;
  /** Share of exact duplicate rows. @default warning 0.01, critical 0.2 */
  readonly duplicateRows: Limits;
  /** Share of rows whose identical feature twins carry another label. @default warning 0, critical 0.05 */
  readonly labelConflicts: Limits;
  /** Minority-class share below which the audit warns / fails. @default warning 0.05, critical 0.005 */
  readonly minorityShare: Limits;
  /** Population stability index of a column against the reference. @default warning 0.1, critical 0.25 */
  readonly shiftPsi: Limits;
}

export const DEFAULT_THRESHOLDS: AuditThresholds = {
  missingRate: { warning: 0.2, critical: 0.5 },
  nearConstant: 0.99,
  cardinalityShare: 0.5,
  outOfRange: { warning: 0, critical: 0.01 },
  duplicateRows: { warning: 0.01, critical: 0.2 },
  labelConflicts: { warning: 0, critical: 0.05 },
  minorityShare: { warning: 0.05, critical: 0.005 },
  shiftPsi: { warning: 0.1, critical: 0.25 },
};

/** What the data is supposed to be: ranges and categories per column (the model's input schema). */
export type Expectations = Readonly<
  Record<string, { readonly min?: number; readonly max?: number; readonly categories?: readonly string[] }>
>;

export interface AuditOptions {
  readonly label: string;
  /** Columns that are not features (ids, PII): skipped by feature checks and duplicate detection. */
  readonly ignore?: readonly string[];
  readonly expectations?: Expectations;
  readonly thresholds?: Partial<AuditThresholds>;
  /**
   * Reference data (training set against holdout, or reference against current): each shared
   * column, the label included, is compared with the drift statistics. @default no shift check
   */
  readonly reference?: Table;
}

export interface AuditReport {
  readonly passed: boolean;
  readonly rows: number;
  readonly columns: number;
  readonly classBalance: {
    readonly positives: number;
    readonly negatives: number;
    readonly minorityShare: number;
    readonly ratio: number;
  } | null;
  readonly findings: readonly Finding[];
  /** Per column, when a reference was given. */
  readonly shift?: Readonly<Record<string, ColumnShift>>;
}

function graded(
  check: Finding['check'],
  value: number,
  limits: Limits,
  message: string,
  column?: string,
  below = false,
): Finding | undefined {
  const exceeds = (limit: number) => (below ? value < limit : value > limit);
  const severity: Severity | undefined = exceeds(limits.critical)
    ? 'critical'
    : exceeds(limits.warning)
      ? 'warning'
      : undefined;
  if (severity === undefined) return undefined;
  return { check, value, threshold: limits[severity], severity, message, ...(column ? { column } : {}) };
}

function isMissing(column: Column, row: number): boolean {
  return column.kind === 'numeric'
    ? Number.isNaN(column.values[row] as number)
    : (column.codes[row] as number) < 0;
}

/** Row key over the given columns (numbers as-is, categories by code), for duplicate detection. */
function rowKey(columns: readonly Column[], row: number): string {
  return columns
    .map((c) => (c.kind === 'numeric' ? String(c.values[row]) : String(c.codes[row])))
    .join('\u0001');
}

export function auditTable(table: Table, options: AuditOptions): AuditReport {
  const t: AuditThresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const findings: Finding[] = [];
  const add = (f: Finding | undefined) => {
    if (f) findings.push(f);
  };
  const n = table.rowCount;
  if (n === 0) {
    return {
      passed: false,
      rows: 0,
      columns: table.columns.size,
      classBalance: null,
      findings: [
        { check: 'empty', value: 0, threshold: 1, severity: 'critical', message: 'the data has no rows' },
      ],
    };
  }
  const ignored = new Set([...(options.ignore ?? []), options.label]);
  const features = [...table.columns].filter(([name]) => !ignored.has(name));

  for (const [name, column] of features) {
    let missing = 0;
    const counts = new Map<string | number, number>();
    let outside = 0;
    const expected = options.expectations?.[name];
    for (let r = 0; r < n; r++) {
      if (isMissing(column, r)) {
        missing++;
        continue;
      }
      const v = cell(column, r) as number | string;
      counts.set(v, (counts.get(v) ?? 0) + 1);
      if (expected) {
        if (
          typeof v === 'number' &&
          ((expected.min !== undefined && v < expected.min) ||
            (expected.max !== undefined && v > expected.max))
        )
          outside++;
        if (typeof v === 'string' && expected.categories && !expected.categories.includes(v)) outside++;
      }
    }
    const present = n - missing;
    add(
      graded(
        'missing-rate',
        missing / n,
        t.missingRate,
        `${((100 * missing) / n).toFixed(1)} % of ${name} is missing`,
        name,
      ),
    );
    if (present > 0) {
      const top = Math.max(...counts.values());
      if (counts.size === 1) {
        findings.push({
          check: 'constant',
          column: name,
          value: 1,
          threshold: 1,
          severity: 'warning',
          message: `${name} has a single value; it cannot inform a model`,
        });
      } else if (top / present >= t.nearConstant) {
        findings.push({
          check: 'near-constant',
          column: name,
          value: top / present,
          threshold: t.nearConstant,
          severity: 'warning',
          message: `${name} takes one value in ${((100 * top) / present).toFixed(2)} % of rows`,
        });
      }
      if (column.kind === 'categorical' && counts.size / present > t.cardinalityShare && counts.size > 20) {
        findings.push({
          check: 'cardinality',
          column: name,
          value: counts.size / present,
          threshold: t.cardinalityShare,
          severity: 'warning',
          message: `${name} has ${counts.size} distinct values: an identifier rather than a feature?`,
        });
      }
      if (expected)
        add(
          graded(
            'out-of-range',
            outside / present,
            t.outOfRange,
            `${outside} value(s) of ${name} fall outside the expected range or categories`,
            name,
          ),
        );
    }
  }

  const featureColumns = features.map(([, c]) => c);
  const seen = new Map<string, { count: number; labels: Set<number> }>();
  const label = table.columns.get(options.label);
  const labelValue = (r: number) => (label?.kind === 'numeric' ? (label.values[r] as number) : Number.NaN);
  for (let r = 0; r < n; r++) {
    const key = rowKey(featureColumns, r);
    const entry = seen.get(key) ?? { count: 0, labels: new Set<number>() };
    entry.count++;
    entry.labels.add(labelValue(r));
    seen.set(key, entry);
  }
  let duplicates = 0;
  let conflicting = 0;
  for (const entry of seen.values()) {
    duplicates += entry.count - 1;
    if (entry.labels.size > 1) conflicting += entry.count;
  }
  add(
    graded(
      'duplicate-rows',
      duplicates / n,
      t.duplicateRows,
      `${duplicates} row(s) repeat another row's features`,
    ),
  );

  let classBalance: AuditReport['classBalance'] = null;
  if (label === undefined || label.kind !== 'numeric') {
    findings.push({
      check: 'label-not-binary',
      column: options.label,
      value: 0,
      threshold: 0,
      severity: 'critical',
      message: `label ${options.label} is ${label ? 'not numeric' : 'missing'}`,
    });
  } else {
    let positives = 0;
    let negatives = 0;
    let other = 0;
    for (const v of label.values) {
      if (v === 1) positives++;
      else if (v === 0) negatives++;
      else other++;
    }
    if (other > 0 || positives === 0 || negatives === 0) {
      findings.push({
        check: 'label-not-binary',
        column: options.label,
        value: other,
        threshold: 0,
        severity: 'critical',
        message:
          other > 0
            ? `${other} label value(s) are neither 0 nor 1 (or missing)`
            : `label ${options.label} has a single class`,
      });
    } else {
      const minority = Math.min(positives, negatives);
      classBalance = {
        positives,
        negatives,
        minorityShare: minority / n,
        ratio: Math.max(positives, negatives) / minority,
      };
      add(
        graded(
          'class-imbalance',
          minority / n,
          t.minorityShare,
          `the minority class is ${((100 * minority) / n).toFixed(2)} % of rows`,
          options.label,
          true,
        ),
      );
      add(
        graded(
          'label-conflict',
          conflicting / n,
          t.labelConflicts,
          `${conflicting} row(s) share identical features with a row of the other label`,
          options.label,
        ),
      );
    }
  }
  const shift = options.reference ? shiftAgainst(options.reference, table, options, t, add) : undefined;
  return {
    passed: !findings.some((f) => f.severity === 'critical'),
    rows: n,
    columns: table.columns.size,
    classBalance,
    findings,
    ...(shift ? { shift } : {}),
  };
}

function shiftAgainst(
  reference: Table,
  table: Table,
  options: AuditOptions,
  t: AuditThresholds,
  add: (f: Finding | undefined) => void,
): Record<string, ColumnShift> {
  const ignored = new Set(options.ignore ?? []);
  const shift: Record<string, ColumnShift> = {};
  for (const [name, refColumn] of reference.columns) {
    if (ignored.has(name)) continue;
    const column = table.columns.get(name);
    if (column === undefined || column.kind !== refColumn.kind) {
      add({
        check: 'schema-mismatch',
        column: name,
        value: 1,
        threshold: 0,
        severity: 'critical',
        message:
          column === undefined
            ? `${name} is in the reference but not in the data`
            : `${name} is ${column.kind} here but ${refColumn.kind} in the reference`,
      });
      continue;
    }
    // An identifier's categories never repeat: a distribution comparison means nothing.
    if (
      refColumn.kind === 'categorical' &&
      refColumn.dictionary.length > t.cardinalityShare * reference.rowCount
    )
      continue;
    const s = columnShift(refColumn, column);
    shift[name] = s;
    const test =
      s.kind === 'numeric'
        ? `KS p = ${s.ks.pValue.toPrecision(2)}`
        : `χ² p = ${s.chiSquare.pValue.toPrecision(2)}`;
    add(
      graded(
        'shift',
        s.psi,
        t.shiftPsi,
        `${name} shifted from the reference: PSI ${s.psi.toFixed(3)}, ${test}`,
        name,
      ),
    );
  }
  for (const name of table.columns.keys()) {
    if (!reference.columns.has(name) && !ignored.has(name)) {
      add({
        check: 'schema-mismatch',
        column: name,
        value: 1,
        threshold: 0,
        severity: 'warning',
        message: `${name} is in the data but not in the reference`,
      });
    }
  }
  return shift;
}
