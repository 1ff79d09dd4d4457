import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readCsv } from '../../../functions/core/data/csv.ts';
import { cell, schemaOf, toCsv } from '../../../functions/core/data/table.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';

const csv = (text: string) => Readable.from([text]);

async function issueOf(text: string, options = {}) {
  try {
    await readCsv(csv(text), { source: 'loans.csv', ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues[0];
  }
  throw new Error('expected a ValidationError');
}

describe('readCsv', () => {
  it('infers numeric and categorical columns and keeps missing values explicit', async () => {
    // Act
    const table = await readCsv(
      csv('income,employment,default\n5000,salaried,0\n,self-employed,1\n7200.5,NA,0\n'),
    );

    // Assess
    expect(table.rowCount).toBe(3);
    expect(schemaOf(table)).toEqual({ income: 'numeric', employment: 'categorical', default: 'numeric' });
    const income = table.columns.get('income');
    const employment = table.columns.get('employment');
    expect(income?.kind === 'numeric' && Array.from(income.values)).toEqual([5000, Number.NaN, 7200.5]);
    expect(employment?.kind === 'categorical' && Array.from(employment.codes)).toEqual([0, 1, -1]);
    expect(employment && cell(employment, 1)).toBe('self-employed');
  });

  it('applies an explicit schema over inference', async () => {
    const table = await readCsv(csv('zip,amount\n01234,10\n98765,20\n'), { schema: { zip: 'categorical' } });
    expect(schemaOf(table)).toEqual({ zip: 'categorical', amount: 'numeric' });
    expect(cell(table.columns.get('zip') as never, 0)).toBe('01234');
  });

  it('handles quotes, embedded commas and newlines, and a byte-order mark', async () => {
    const table = await readCsv(csv('\uFEFFname,note\n"Smith, J","line one\nline two"\n'));
    expect([...table.columns.keys()]).toEqual(['name', 'note']);
    expect(cell(table.columns.get('note') as never, 0)).toBe('line one\nline two');
  });

  it('names the line and column of a value of the wrong type after the inference sample', async () => {
    const issue = await issueOf('income,default\n100,0\n200,1\nabc,0\n', { inferRows: 2 });
    expect(issue).toEqual({ path: 'line 4, column income', message: 'expected a number, got "abc"' });
  });

  it('names the line and column of a wrong type against an explicit schema', async () => {
    const issue = await issueOf('income,default\n100,0\nlots,1\n', { schema: { income: 'numeric' } });
    expect(issue?.path).toBe('line 3, column income');
  });

  it.each([
    ['a ragged row', 'a,b,c\n1,2,3\n4,5\n', 'line 3', '2 fields, but the header has 3 columns'],
    ['a ragged row after inference', 'a,b\n1,2\n3,4,5\n', 'line 3', '3 fields, but the header has 2 columns'],
    ['a duplicate column', 'a,a\n1,2\n', 'line 1, column a', 'duplicate column name'],
    ['an empty file', '', 'file', 'no header row'],
    ['an infinite number', 'x\n1\nInfinity\n', 'line 3, column x', 'expected a number, got "Infinity"'],
    // csv-parse's one error code without the CSV_ prefix: a JSON file given as data.
    [
      'a quote opening mid-field',
      '{\n  "a": 1\n}\n',
      'line 2',
      'Invalid Opening Quote: a quote is found on field 0 at line 2, value is "  "',
    ],
  ])('rejects %s', async (_case, text, path, message) => {
    const issue = await issueOf(text, { inferRows: 1, schema: text.startsWith('x') ? { x: 'numeric' } : {} });
    expect(issue).toEqual({ path, message });
  });

  it('refuses a schema naming absent columns', async () => {
    const issue = await issueOf('a\n1\n', { schema: { label: 'numeric' } });
    expect(issue).toEqual({ path: 'label', message: 'not in the header' });
  });

  it('round-trips through toCsv', async () => {
    const text = 'id,score,group\nx1,0.5,"a,b"\nx2,,c\n';
    const table = await readCsv(csv(text));
    const again = await readCsv(csv(toCsv(table)));
    expect(toCsv(again)).toBe(toCsv(table));
    expect(again.rowCount).toBe(2);
  });
});
