import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeelFunction } from '../../infra/constructs/keel-function.ts';

describe('KeelFunction', () => {
  let app: App;
  let template: Template;

  beforeAll(() => {
    app = new App();
    const stack = new Stack(app, 'Fn');
    const table = new dynamodb.Table(stack, 'T', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    });
    const bus = new events.EventBus(stack, 'Bus');
    new KeelFunction(stack, 'Echo', { entry: 'test/fixtures/handlers/echo.ts' })
      .bindTable(table, 'read')
      .bindEventBus(bus);
    template = Template.fromStack(stack);
  });

  it('runs Node 22 on arm64 with active tracing and JSON logs', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      MemorySize: 1024,
      Timeout: 30,
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
    });
  });

  it('writes to its own log group with a retention', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('sets the Powertools and bound-resource variables together with the grants', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'Echo',
          KEEL_TABLE_NAME: Match.anyValue(),
          KEEL_EVENT_BUS_NAME: Match.anyValue(),
        }),
      },
    });
    const statements = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(statements).toContain('dynamodb:GetItem');
    expect(statements).not.toContain('dynamodb:PutItem');
    expect(statements).toContain('events:PutEvents');
  });

  it('bundles a CommonJS handler with local esbuild, the AWS SDK inside it', () => {
    const assetDirs = readdirSync(app.outdir).filter((d) => d.startsWith('asset.'));
    const bundles = assetDirs.map((d) => join(app.outdir, d, 'index.js')).filter((f) => existsSync(f));
    expect(bundles).toHaveLength(1);
    const code = readFileSync(bundles[0] as string, 'utf8');
    expect(code).toMatch(/module\.exports=/);
    expect(code).not.toMatch(/require\(["']@aws-sdk\//);
    expect(code).not.toMatch(/\bimport\s*[{*\w][^;]*from\s*["']/);
  });

  it('keeps function names through minification and maps stacks at run time only when asked', () => {
    // Prepare
    const stack = new Stack(new App(), 'Maps');
    new KeelFunction(stack, 'Mapped', { entry: 'test/fixtures/handlers/echo.ts', sourceMaps: true });
    // Act
    const mapped = Template.fromStack(stack);
    // Assess
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    expect(fn.Properties.Environment.Variables).not.toHaveProperty('NODE_OPTIONS');
    mapped.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
    });
    const assetDirs = readdirSync(app.outdir).filter((d) => d.startsWith('asset.'));
    const dir = join(
      app.outdir,
      assetDirs.find((d) => existsSync(join(app.outdir, d, 'index.js'))) as string,
    );
    expect(existsSync(join(dir, 'index.js.map'))).toBe(true);
    // esbuild's keepNames helper, which restores each function's name after renaming.
    expect(readFileSync(join(dir, 'index.js'), 'utf8')).toMatch(/"name",\{value:\w+,configurable:!0\}/);
  });

  it('validates memory size with the received value', () => {
    const stack = new Stack(new App(), 'Bad');
    expect(
      () => new KeelFunction(stack, 'F', { entry: 'test/fixtures/handlers/echo.ts', memorySize: 64 }),
    ).toThrow('got 64');
  });
});
