import { ArnFormat, type CfnElement, CfnOutput, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import {
  FEDERATED_ENV,
  FEDERATED_EVENT_SOURCE,
  FEDERATED_FUNCTIONS,
  FEDERATED_HANDLERS,
  type FederatedStep,
  federatedApiFunctionName,
  federatedFunctionName,
  federatedPipelineName,
  federatedSettings,
  federatedSubstitutions,
} from '../../functions/contracts/federated.ts';
import { PORT_ENV, RESOURCE_ENV } from '../../functions/contracts/resources.ts';
import { retrainingPipelineName } from '../../functions/contracts/retraining.ts';
import { KeelFunction } from './keel-function.ts';
import { KeelStateMachine } from './keel-state-machine.ts';
import type { KeelStorage } from './storage.ts';

export interface KeelFederatedProps {
  readonly config: KeelConfig;
  readonly storage: KeelStorage;
  /** Each model's retraining state machine: a federated model is judged by its gates. */
  readonly retraining: Readonly<Record<string, sfn.StateMachine>>;
  /** The HTTP API the client routes go on (the serving API). */
  readonly api: apigw.IHttpApi;
  /** Authorises the client routes: IAM (SigV4), one role per client. */
  readonly authorizer: apigw.IHttpRouteAuthorizer;
  /** Where failed runs alarm, and every run's outcome goes. @default neither */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * Federated training in AWS: the step functions of `state-machines/federated.asl.json` with a
 * policy each, one state machine per model that declares `federated` (which hands its result to
 * the model's retraining state machine, `startExecution.sync`), and the client API on the
 * serving API (`/v1/federated/{model}/...`, IAM-authorised: each client answers as the role it
 * was registered with). Clients never get a bucket permission: they download and upload through
 * the presigned URLs the dispatch function signs with its own, narrow, role.
 */
export class KeelFederated extends Construct {
  readonly functions: Readonly<Record<FederatedStep, KeelFunction>>;
  readonly api: KeelFunction;
  readonly stateMachines: Readonly<Record<string, KeelStateMachine>>;
  /** The declared clients' roles, by `model/client`. */
  readonly clientRoles: Readonly<Record<string, iam.Role>>;

  constructor(scope: Construct, id: string, props: KeelFederatedProps) {
    super(scope, id);
    const { config, storage } = props;
    const models = Object.keys(config.models).filter((m) => config.models[m]?.federated);
    if (models.length === 0)
      throw new Error(`KeelFederated ${id}: no model of ${config.project} declares federated training`);
    for (const model of models)
      if (!props.retraining[model])
        throw new Error(
          `KeelFederated ${id}: no retraining state machine for ${model} (given: ${Object.keys(props.retraining).join(', ')})`,
        );
    const stack = Stack.of(this);
    const lineage = storage.lineageBucket;
    const exchange = storage.federatedBucket;

    const fn = (step: FederatedStep, memorySize = 1024, timeout = Duration.minutes(1)) => {
      const f = new KeelFunction(this, `Step-${step}`, {
        entry: 'functions/federated/lambda.ts',
        handler: FEDERATED_HANDLERS[step],
        functionName: federatedFunctionName(config.project, step),
        description: `Keel federated training: ${step}`,
        memorySize,
        timeout,
        serviceName: `federated-${step}`,
      });
      f.addEnvironment(RESOURCE_ENV.lineageBucket, lineage.bucketName);
      f.addEnvironment(RESOURCE_ENV.federatedBucket, exchange.bucketName);
      f.addEnvironment(RESOURCE_ENV.table, storage.table.tableName);
      return f;
    };
    const long = Duration.minutes(15);
    const f: Record<FederatedStep, KeelFunction> = {
      // Both read the server's own rows (data.source).
      'start-session': fn('start-session', 3008, long),
      'configure-round': fn('configure-round'),
      dispatch: fn('dispatch'),
      roster: fn('roster'),
      route: fn('route', 1024, Duration.minutes(5)),
      collect: fn('collect', 1024, Duration.minutes(5)),
      aggregate: fn('aggregate', 3008, long),
      finish: fn('finish'),
      'record-failure': fn('record-failure'),
    };
    this.functions = f;

    // Least privilege per step, beside the resources' own policies.
    const policy = (step: FederatedStep, spec: Parameters<KeelStorage['accessPolicy']>[1]) =>
      f[step].role?.addManagedPolicy(
        storage.accessPolicy(`Federated-${step}`, {
          ...spec,
          description: `Keel federated: ${spec.description}`,
        }),
      );
    policy('start-session', {
      description: 'start sessions',
      lineageWrite: ['pipelines', 'records'],
      table: 'read',
    });
    // Signs the clients' URLs, so it holds what they need: the model and pipeline (GET), inboxes (GET), uploads (PUT).
    policy('dispatch', { description: 'dispatch tasks', lineageRead: ['records', 'pipelines'] });
    policy('aggregate', {
      description: 'aggregate rounds',
      lineageRead: ['pipelines'],
      lineageWrite: ['records'],
    });
    policy('finish', { description: 'finish sessions', lineageWrite: ['records'] });
    policy('record-failure', { description: 'record failures', lineageWrite: ['records'] });
    // Dispatch signs the clients' inbox GETs and upload PUTs; route writes inboxes; collect reads uploads.
    const exchangeAccess = {
      dispatch: { read: true, write: true },
      route: { read: true, write: true },
      collect: { read: true },
    } as const;
    for (const [step, access] of Object.entries(exchangeAccess) as [
      FederatedStep,
      { read?: boolean; write?: boolean },
    ][])
      f[step].role?.addManagedPolicy(
        storage.exchangePolicy(`Federated-exchange-${step}`, {
          description: `Keel federated: ${step} round exchanges`,
          ...access,
        }),
      );
    // Tasks and clients live in the registry table, under FEDERATED# keys only.
    const federatedItems = (actions: string[]) =>
      new iam.PolicyStatement({
        actions,
        resources: [storage.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['FEDERATED#*'] } },
      });
    f.dispatch.addToRolePolicy(federatedItems(['dynamodb:PutItem']));
    for (const step of ['finish', 'record-failure'] as const) f[step].bindEventBus(storage.eventBus);
    const sources = models
      .map((m) => config.models[m]?.data.source ?? '')
      .filter((s) => s.startsWith('s3://'))
      .map((s) => `arn:${stack.partition}:s3:::${s.slice('s3://'.length)}`);
    if (sources.length > 0)
      for (const step of ['start-session', 'aggregate'] as const)
        f[step].addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: sources }));
    // One state machine per federated model.
    const machines: Record<string, KeelStateMachine> = {};
    for (const model of models) {
      const settings = federatedSettings(config, model);
      const retraining = props.retraining[model] as sfn.StateMachine;
      const machine = new KeelStateMachine(this, `Federated-${model}`, {
        definitionFile: 'state-machines/federated.asl.json',
        stateMachineName: federatedPipelineName(config.project, model),
        // Every step of every round may take its whole timeout, then the gates (approval included).
        timeout: Duration.seconds(
          Math.min(365 * 86_400, settings.rounds * 4 * settings.taskTimeoutSeconds + 8 * 86_400),
        ),
        functions: Object.fromEntries(
          Object.entries(FEDERATED_FUNCTIONS).map(([placeholder, step]) => [placeholder, f[step]]),
        ),
        substitutions: federatedSubstitutions(settings, {
          retrainingStateMachineArn: retraining.stateMachineArn,
        }),
      });
      const sm = machine.stateMachine;
      // `startExecution.sync:2`: start the retraining run, follow it (a rule Step Functions manages), stop it.
      sm.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['states:StartExecution'],
          resources: [retraining.stateMachineArn],
        }),
      );
      const executions = stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${retrainingPipelineName(config.project, model)}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      sm.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [executions],
        }),
      );
      sm.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
          resources: [
            stack.formatArn({
              service: 'events',
              resource: 'rule',
              resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
            }),
          ],
        }),
      );
      const smRegion = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
      const smAccount = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
      Validations.of(sm).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${smRegion}:${smAccount}:execution:${retrainingPipelineName(config.project, model)}:*]`,
        reason:
          'The retraining runs this one starts are named per run; only executions of that state machine.',
      });
      if (props.alarmTopic)
        new cloudwatch.Alarm(this, `Failed-${model}`, {
          alarmDescription: `A ${model} federated training run failed (a round without a quorum, or a broken step)`,
          metric: sm.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }).addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
      machines[model] = machine;
    }
    this.stateMachines = machines;
    if (props.alarmTopic)
      new events.Rule(this, 'OutcomesToSns', {
        eventBus: storage.eventBus,
        description: 'How each federated training run ended, to the outcomes topic',
        eventPattern: { source: [FEDERATED_EVENT_SOURCE] },
        targets: [new targets.SnsTopic(props.alarmTopic)],
      });

    // The client API.
    this.api = new KeelFunction(this, 'Api', {
      entry: 'functions/federated/lambda.ts',
      handler: 'federatedApiHandler',
      functionName: federatedApiFunctionName(config.project),
      description: 'Keel federated training: client registration, tasks and answers',
      serviceName: 'federated-api',
    });
    this.api.addEnvironment(RESOURCE_ENV.table, storage.table.tableName);
    this.api.addEnvironment(FEDERATED_ENV.models, JSON.stringify({ project: config.project, models }));
    this.api.addEnvironment(
      PORT_ENV.stateMachineArns,
      stack.toJsonString(
        Object.fromEntries(
          models.map((m) => [
            federatedPipelineName(config.project, m),
            (machines[m] as KeelStateMachine).stateMachine.stateMachineArn,
          ]),
        ),
      ),
    );
    this.api.addToRolePolicy(
      federatedItems(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem']),
    );
    this.api.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [storage.key.keyArn],
      }),
    );
    const arns = Object.values(machines).map((m) => m.stateMachine.stateMachineArn);
    this.api.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskHeartbeat', 'states:StartExecution'],
        resources: arns,
      }),
    );
    // One role per declared client: it may poll and answer its model's tasks, nothing else. In
    // the API's own stack, so that its ARNs are that stack's (and its findings acknowledgeable).
    const apiStack = Stack.of(props.api);
    const apiId = `<${apiStack.getLogicalId(props.api.node.defaultChild as CfnElement)}>`;
    const region = Token.isUnresolved(apiStack.region) ? '<AWS::Region>' : apiStack.region;
    const account = Token.isUnresolved(apiStack.account) ? '<AWS::AccountId>' : apiStack.account;
    const clientRoles: Record<string, iam.Role> = {};
    for (const model of models) {
      for (const client of config.models[model]?.federated?.clients ?? []) {
        const trust = /^\d{12}$/.test(client.trust)
          ? new iam.AccountPrincipal(client.trust)
          : new iam.ArnPrincipal(client.trust);
        const role = new iam.Role(apiStack, `FederatedClient-${model}-${client.id}`, {
          roleName: `${config.project}-${model}-client-${client.id}`.slice(0, 64),
          assumedBy: trust,
          description: `Keel federated client ${client.id} of ${model}: polls and answers its tasks`,
          maxSessionDuration: Duration.hours(12),
        });
        const routes = [
          ['GET', `/v1/federated/${model}/tasks`],
          ['POST', `/v1/federated/${model}/tasks/*`],
        ] as const;
        role.addToPolicy(
          new iam.PolicyStatement({
            actions: ['execute-api:Invoke'],
            resources: routes.map(([method, path]) => props.api.arnForExecuteApi(method, path)),
          }),
        );
        for (const [method, path] of routes)
          Validations.of(role).acknowledge({
            id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:${region}:${account}:${apiId}/*/${method}${path}]`,
            reason:
              'Any stage of the API; task ids are minted per step, and the API checks each is the caller’s own.',
          });
        new CfnOutput(apiStack, `FederatedClientRole${model}${client.id.replaceAll('-', '')}`, {
          value: role.roleArn,
          description: `keel federated register ${client.id} ${model} --principal <this>`,
        });
        clientRoles[`${model}/${client.id}`] = role;
      }
    }
    this.clientRoles = clientRoles;

    const integration = new integrations.HttpLambdaIntegration('Federated', this.api);
    for (const [path, method] of [
      ['/v1/federated/{model}/clients', apigw.HttpMethod.GET],
      ['/v1/federated/{model}/clients', apigw.HttpMethod.POST],
      ['/v1/federated/{model}/tasks', apigw.HttpMethod.GET],
      ['/v1/federated/{model}/tasks/{taskId}', apigw.HttpMethod.POST],
      ['/v1/federated/{model}/tasks/{taskId}/heartbeat', apigw.HttpMethod.POST],
      ['/v1/federated/{model}/sessions', apigw.HttpMethod.POST],
    ] as const) {
      new apigw.HttpRoute(this, `Route${method}${path.replaceAll(/[^A-Za-z]/g, '')}`, {
        httpApi: props.api,
        routeKey: apigw.HttpRouteKey.with(path, method),
        integration,
        authorizer: props.authorizer,
      });
    }
  }
}
