import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { auditTable } from '../../../functions/core/audit/audit.ts';
import { readCsv } from '../../../functions/core/data/csv.ts';
import { CategoricalBuilder } from '../../../functions/core/data/table.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';

const table = (text: string) => readCsv(Readable.from([text]), { schema: { default: 'numeric' } });

describe('auditTable', () => {
  it('passes a clean synthetic population and reports the class balance', () => {
    // Act
    const report = auditTable(generateCredit({ rows: 5000, seed: 3 }), {
      label: 'default',
      ignore: ['applicant_id'],
    });

    // Assess
    expect(report.passed).toBe(true);
    expect(report.findings.filter((f) => f.severity === 'critical')).toEqual([]);
    expect(report.classBalance?.positives).toBeGreaterThan(0);
    expect(report.classBalance?.minorityShare).toBeGreaterThan(0.05);
  });

  it('grades missing values by threshold', () => {
    const warned = auditTable(generateCredit({ rows: 2000, seed: 1, missingIncome: 0.3 }), {
      label: 'default',
      ignore: ['applicant_id'],
    });
    const failed = auditTable(generateCredit({ rows: 2000, seed: 1, missingIncome: 0.6 }), {
      label: 'default',
      ignore: ['applicant_id'],
    });
    expect(warned.findings.find((f) => f.check === 'missing-rate')).toMatchObject({
      column: 'income',
      severity: 'warning',
    });
    expect(warned.passed).toBe(true);
    expect(failed.findings.find((f) => f.check === 'missing-rate')).toMatchObject({
      column: 'income',
      severity: 'critical',
    });
    expect(failed.passed).toBe(false);
  });

  it('finds constant columns, identifiers, duplicates and conflicting labels', async () => {
    // Prepare: rows 1-2 duplicate each other; rows 3-4 have equal features but different labels.
    const rows = ['id,x,c,k,default'];
    for (let i = 0; i < 40; i++) rows.push(`id${i},${i},same,${i % 2 ? 'a' : 'b'},${i % 2}`);
    rows.push('dup,1,same,a,1', 'twin1,99,same,a,0', 'twin2,99,same,a,1');

    const data = await table(`${rows.join('\n')}\n`);

    // Act: once as is, once ignoring the identifier as callers should.
    const raw = auditTable(data, { label: 'default' });
    const report = auditTable(data, { label: 'default', ignore: ['id'] });

    // Assess
    const checks = Object.fromEntries(report.findings.map((f) => [`${f.check}:${f.column ?? ''}`, f]));
    expect(raw.findings.find((f) => f.check === 'cardinality')).toMatchObject({
      column: 'id',
      severity: 'warning',
    });
    expect(checks['constant:c']?.severity).toBe('warning');
    expect(checks['duplicate-rows:']).toMatchObject({ severity: 'warning' });
    // The two twins conflict; the duplicate agrees with its original.
    expect(checks['label-conflict:default']).toMatchObject({ severity: 'warning' });
    expect(checks['label-conflict:default']?.value).toBeCloseTo(2 / 43, 12);
    expect(report.passed).toBe(true);
    const strict = auditTable(data, {
      label: 'default',
      ignore: ['id'],
      thresholds: { labelConflicts: { warning: 0, critical: 0.02 } },
    });
    expect(strict.passed).toBe(false);
  });

  it('flags values outside the expected range and categories', async () => {
    const data = await table('age,kind,default\n30,a,0\n150,a,1\n40,zzz,0\n50,b,1\n');
    const report = auditTable(data, {
      label: 'default',
      expectations: { age: { min: 18, max: 100 }, kind: { categories: ['a', 'b'] } },
    });
    const outOfRange = report.findings
      .filter((f) => f.check === 'out-of-range')
      .map((f) => [f.column, f.severity, f.value]);
    expect(outOfRange).toEqual([
      ['age', 'critical', 0.25],
      ['kind', 'critical', 0.25],
    ]);
  });

  it.each([
    ['a non-binary label', 'x,default\n1,0\n2,2\n3,1\n', /neither 0 nor 1/],
    ['a single class', 'x,default\n1,0\n2,0\n3,0\n', /single class/],
  ])('fails on %s', async (_case, text, message) => {
    const report = auditTable(await table(text), { label: 'default' });
    expect(report.passed).toBe(false);
    expect(report.findings.find((f) => f.check === 'label-not-binary')?.message).toMatch(message);
  });

  it('grades class imbalance by the minority share', () => {
    const rows = ['x,default', ...Array.from({ length: 1000 }, (_, i) => `${i},${i < 20 ? 1 : 0}`)];
    return table(`${rows.join('\n')}\n`).then((data) => {
      const report = auditTable(data, { label: 'default' });
      expect(report.classBalance).toEqual({ positives: 20, negatives: 980, minorityShare: 0.02, ratio: 49 });
      expect(report.findings.find((f) => f.check === 'class-imbalance')).toMatchObject({
        severity: 'warning',
        threshold: 0.05,
      });
    });
  });

  it('fails an empty table', async () => {
    const report = auditTable(await table('x,default\n'), { label: 'default' });
    expect(report).toMatchObject({
      passed: false,
      rows: 0,
      findings: [{ check: 'empty', severity: 'critical' }],
    });
  });
});

describe('auditTable against a reference', () => {
  const reference = generateCredit({ rows: 4000, seed: 5 });

  it('finds no shift between two samples of the same population', () => {
    // Act
    const report = auditTable(generateCredit({ rows: 3000, seed: 6 }), {
      label: 'default',
      ignore: ['applicant_id'],
      reference,
    });

    // Assess
    expect(report.findings.filter((f) => f.check === 'shift')).toEqual([]);
    expect(Object.keys(report.shift ?? {})).toContain('income');
    expect(report.shift?.income?.psi).toBeLessThan(0.1);
  });

  it('grades a covariate shift by PSI and names the shifted columns', () => {
    // Act
    const report = auditTable(generateCredit({ rows: 3000, seed: 6, covariateDrift: 0.5 }), {
      label: 'default',
      ignore: ['applicant_id'],
      reference,
    });

    // Assess
    const shifted = report.findings.filter((f) => f.check === 'shift').map((f) => f.column);
    expect(shifted).toEqual(expect.arrayContaining(['income', 'debt']));
    expect(shifted).not.toContain('age');
    const income = report.findings.find((f) => f.check === 'shift' && f.column === 'income');
    expect(income?.value).toBeCloseTo(report.shift?.income?.psi as number, 12);
    expect(income?.message).toMatch(/PSI .*KS p =/);
  });

  it('reports columns missing or retyped against the reference as schema mismatches', () => {
    // Prepare
    const current = generateCredit({ rows: 500, seed: 8 });
    const columns = new Map(current.columns);
    columns.delete('region');
    const income = current.columns.get('income');
    const asText = new CategoricalBuilder();
    if (income?.kind === 'numeric') for (const v of income.values) asText.push(String(v));
    columns.set('income', asText.build());

    // Act
    const report = auditTable({ rowCount: current.rowCount, columns }, { label: 'default', reference });

    // Assess
    const mismatches = report.findings.filter((f) => f.check === 'schema-mismatch');
    expect(mismatches.map((f) => [f.column, f.severity])).toEqual(
      expect.arrayContaining([
        ['region', 'critical'],
        ['income', 'critical'],
      ]),
    );
    expect(report.passed).toBe(false);
  });
});
