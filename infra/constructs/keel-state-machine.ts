import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  parseDefinition,
  placeholders,
  substitute,
  tasksWithoutErrorHandling,
} from '../../functions/contracts/asl.ts';

export interface KeelStateMachineProps {
  /** Path of the ASL file in `state-machines/`; the same file runs locally. */
  readonly definitionFile: string;
  /** Functions referenced by the definition, keyed by placeholder: `${Name}` becomes the function ARN. */
  readonly functions?: Readonly<Record<string, lambda.IFunction>>;
  /** Other placeholder values (bucket names, ARNs, thresholds). @default none */
  readonly substitutions?: Readonly<Record<string, string>>;
  /** @default a generated name */
  readonly stateMachineName?: string;
  /** @default 1 day for the whole execution */
  readonly timeout?: Duration;
  /** @default three months of execution history in CloudWatch Logs */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A Standard state machine loaded from an ASL file with `definitionSubstitutions`, logging ALL
 * events and traced by X-Ray. It refuses at synth time a definition with a placeholder that has
 * no substitution, or a Task without both Retry and Catch.
 */
export class KeelStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly definitionFile: string;
  /** Placeholders found in the definition. */
  readonly placeholders: readonly string[];
  /** Names given a substitution. */
  readonly substitutionKeys: readonly string[];

  constructor(scope: Construct, id: string, props: KeelStateMachineProps) {
    super(scope, id);
    const text = readFileSync(props.definitionFile, 'utf8');
    // Placeholders may stand unquoted (numbers from config): give each a neutral JSON value to inspect the structure.
    const neutral = Object.fromEntries(placeholders(text).map((name) => [name, '0']));
    const definition = parseDefinition(substitute(text, neutral), props.definitionFile);
    const functionArns = Object.fromEntries(
      Object.entries(props.functions ?? {}).map(([name, fn]) => [name, fn.functionArn]),
    );
    const substitutions = { ...functionArns, ...props.substitutions };
    this.definitionFile = props.definitionFile;
    this.placeholders = placeholders(text);
    this.substitutionKeys = Object.keys(substitutions).sort();

    const missing = this.placeholders.filter((name) => !(name in substitutions));
    if (missing.length > 0) {
      throw new Error(
        `${basename(props.definitionFile)}: no substitution for ${missing.map((m) => `\${${m}}`).join(', ')} (given: ${this.substitutionKeys.join(', ') || 'none'})`,
      );
    }
    const unhandled = tasksWithoutErrorHandling(definition);
    if (unhandled.length > 0) {
      throw new Error(
        `${basename(props.definitionFile)}: every Task needs Retry and Catch; ${unhandled.map((u) => `${u.state} lacks ${u.missing.join(' and ')}`).join('; ')}`,
      );
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(props.definitionFile),
      definitionSubstitutions: substitutions,
      timeout: props.timeout ?? Duration.days(1),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    const stack = Stack.of(this);
    for (const fn of Object.values(props.functions ?? {})) {
      fn.grantInvoke(this.stateMachine);
      if (Stack.of(fn) === stack && fn.node.defaultChild) {
        Validations.of(this.stateMachine).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(fn.node.defaultChild as CfnElement)}.Arn>:*]`,
          reason: 'The state machine invokes its step functions, qualified or not, as Lambda grants it.',
        });
      }
    }
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray trace writes and CloudWatch Logs delivery setup have no resource-level permissions.',
    });
  }
}
