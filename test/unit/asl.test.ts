import { describe, expect, it } from 'vitest';
import {
  type AslDefinition,
  parseDefinition,
  placeholders,
  substitute,
  tasksWithoutErrorHandling,
} from '../../functions/contracts/asl.ts';
import { ValidationError } from '../../functions/kernel/errors.ts';

const handled = {
  Retry: [{ ErrorEquals: ['States.ALL'] }],
  Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Failed' }],
};

describe('placeholders', () => {
  it('lists distinct names, sorted', () => {
    expect(placeholders('{"a":"${Zed}","b":"${Alpha}","c":"${Zed}"}')).toEqual(['Alpha', 'Zed']);
  });

  it('ignores JSONPath and intrinsic syntax', () => {
    expect(placeholders('{"a.$":"$.input","b.$":"States.Format(\'{}\', $.x)"}')).toEqual([]);
  });
});

describe('substitute', () => {
  it('replaces every occurrence', () => {
    expect(substitute('"${Fn}" "${Fn}" "${Bucket}"', { Fn: 'arn:1', Bucket: 'b' })).toBe(
      '"arn:1" "arn:1" "b"',
    );
  });

  it('names every placeholder without a substitution', () => {
    // Act
    const act = () => substitute('"${Fn}" "${Bucket}" "${Other}"', { Fn: 'arn:1' });

    // Assess
    expect(act).toThrow(ValidationError);
    try {
      act();
    } catch (error) {
      expect((error as ValidationError).issues.map((i) => i.path)).toEqual(['${Bucket}', '${Other}']);
    }
  });
});

describe('parseDefinition', () => {
  it.each([
    ['not json', '{'],
    ['no StartAt', '{"States":{}}'],
    ['States not an object', '{"StartAt":"A","States":3}'],
  ])('rejects %s', (_case, text) => {
    expect(() => parseDefinition(text, 'x.asl.json')).toThrow(ValidationError);
  });
});

describe('tasksWithoutErrorHandling', () => {
  it('finds Tasks lacking Retry or Catch, including inside Map and Parallel', () => {
    // Prepare
    const definition: AslDefinition = {
      StartAt: 'A',
      States: {
        A: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', ...handled, Next: 'Fan' },
        Fan: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'Inner',
            States: { Inner: { Type: 'Task', Resource: 'x', Retry: handled.Retry, End: true } },
          },
          Next: 'Both',
        },
        Both: {
          Type: 'Parallel',
          Branches: [{ StartAt: 'B1', States: { B1: { Type: 'Task', Resource: 'y', End: true } } }],
          End: true,
        },
        Failed: { Type: 'Fail' },
      },
    };

    // Act
    const found = tasksWithoutErrorHandling(definition);

    // Assess
    expect(found).toEqual([
      { state: 'Fan/Inner', missing: ['Catch'] },
      { state: 'Both/B1', missing: ['Retry', 'Catch'] },
    ]);
  });
});
