import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { federatedSettingsSchema } from '../../functions/contracts/federated.ts';
import { keelApp } from './helpers.ts';

let template: Template;
let app: Awaited<ReturnType<typeof keelApp>>;

beforeAll(async () => {
  app = await keelApp({}, 'examples/federated-credit/keel.config.json');
  template = Template.fromStack(app.pipeline);
}, 180_000);

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
const statementsOf = (resource: { Properties: { PolicyDocument: { Statement: Statement[] } } }) =>
  resource.Properties.PolicyDocument.Statement;
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('KeelFederated', () => {
  it('passes cdk-nag with only reasoned acknowledgements', () => {
    expect(() => app.app.synth()).not.toThrow();
  });

  it('deploys the federated ASL file per federated model, handing over to its retraining state machine', () => {
    const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as {
      Properties: { StateMachineName: string; DefinitionSubstitutions: Record<string, unknown> };
    }[];
    const federated = machines.find((m) => m.Properties.StateMachineName === 'keel-credit-federated');
    const substitutions = federated?.Properties.DefinitionSubstitutions ?? {};
    expect(federatedSettingsSchema.parse(JSON.parse(String(substitutions.Settings)))).toMatchObject({
      model: 'credit',
      secureAggregation: true,
      rounds: 20,
    });
    expect(substitutions).toMatchObject({ HeartbeatSeconds: '60', TaskTimeoutSeconds: '900' });
    expect(JSON.stringify(substitutions.RetrainingStateMachineArn)).toMatch(/Retrainingcredit/);
  });

  it('routes the client API on the serving API, IAM-authorised', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as {
      Properties: { RouteKey: string; AuthorizationType: string };
    }[];
    const federated = routes.filter((r) => r.Properties.RouteKey.includes('/v1/federated/'));
    expect(federated.map((r) => r.Properties.RouteKey).sort()).toEqual([
      'GET /v1/federated/{model}/clients',
      'GET /v1/federated/{model}/tasks',
      'POST /v1/federated/{model}/clients',
      'POST /v1/federated/{model}/sessions',
      'POST /v1/federated/{model}/tasks/{taskId}',
      'POST /v1/federated/{model}/tasks/{taskId}/heartbeat',
    ]);
    expect(new Set(federated.map((r) => r.Properties.AuthorizationType))).toEqual(new Set(['AWS_IAM']));
  });

  it('gives the client API only FEDERATED# items, and task callbacks on the federated machines only', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p).includes('FederatedApi'),
    ) as { Properties: { PolicyDocument: { Statement: Statement[] } } }[];
    const statements = policies.flatMap(statementsOf);
    const dynamo = statements.find((s) => actions(s).includes('dynamodb:DeleteItem'));
    expect(dynamo?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['FEDERATED#*'] },
    });
    const states = statements.find((s) => actions(s).includes('states:SendTaskSuccess'));
    expect(actions(states as Statement).sort()).toEqual([
      'states:SendTaskHeartbeat',
      'states:SendTaskSuccess',
      'states:StartExecution',
    ]);
    expect(JSON.stringify(states?.Resource)).toMatch(/Federatedcredit/);
    expect(JSON.stringify(states?.Resource)).not.toMatch(/Retrainingcredit/);
  });

  it('makes one role per declared client, assumable by its owner, allowed only to poll and answer its tasks', () => {
    const serving = Template.fromStack(app.serving);
    const roles = Object.values(serving.findResources('AWS::IAM::Role')).filter((r) =>
      String((r as { Properties: { RoleName?: string } }).Properties.RoleName).startsWith(
        'keel-credit-client-',
      ),
    ) as { Properties: { RoleName: string; AssumeRolePolicyDocument: unknown } }[];
    expect(roles.map((r) => r.Properties.RoleName).sort()).toEqual([
      'keel-credit-client-bank-a',
      'keel-credit-client-bank-b',
    ]);
    expect(JSON.stringify(roles[0]?.Properties.AssumeRolePolicyDocument)).toMatch(
      /111111111111|222222222222/,
    );
    const policies = Object.values(serving.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p).includes('FederatedClientcreditbanka'),
    ) as { Properties: { PolicyDocument: { Statement: Statement[] } } }[];
    const statements = policies.flatMap(statementsOf);
    expect(statements.flatMap(actions)).toEqual(['execute-api:Invoke']);
    expect(JSON.stringify(statements[0]?.Resource)).toMatch(/GET\/v1\/federated\/credit\/tasks/);
    expect(JSON.stringify(statements[0]?.Resource)).toMatch(/POST\/v1\/federated\/credit\/tasks\/\*/);
  });

  it('sends every federated outcome to the outcomes topic', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule')) as {
      Properties: { EventPattern?: { source?: string[] } };
    }[];
    expect(rules.some((r) => r.Properties.EventPattern?.source?.[0] === 'keel.federated')).toBe(true);
  });

  it('keeps the exchanges in their own bucket: KMS, TLS only, expired after 30 days', () => {
    const data = Template.fromStack(app.data);
    const buckets = Object.values(data.findResources('AWS::S3::Bucket')) as {
      Properties: {
        LifecycleConfiguration?: { Rules: { ExpirationInDays?: number }[] };
        LoggingConfiguration?: { LogFilePrefix?: string };
      };
    }[];
    const exchange = buckets.find((b) => b.Properties.LoggingConfiguration?.LogFilePrefix === 'federated/');
    expect(exchange?.Properties.LifecycleConfiguration?.Rules).toEqual([
      expect.objectContaining({ ExpirationInDays: 30 }),
    ]);
    expect(JSON.stringify(exchange)).toContain('aws:kms');
  });
});
