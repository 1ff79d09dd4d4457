/**
 * The federated steps and the client API bound to the ports of the composition root: what
 * `lambda.ts` exports for CDK and what the local runtime registers.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { requireEnv } from '../commons/helpers/env.ts';
import { keelHandler } from '../commons/middleware.ts';
import { ports } from '../composition/aws.ts';
import { lineageOf } from '../composition/services.ts';
import { FEDERATED_ENV, federatedModelsSchema } from '../contracts/federated.ts';
import { ConfigError } from '../kernel/errors.ts';
import { federatedRoutes } from './api.ts';
import {
  aggregate,
  collect,
  configureRound,
  type DispatchInput,
  dispatch,
  type FederatedDependencies,
  type FederatedState,
  finish,
  recordFailure,
  roster,
  route,
  startSession,
} from './session.ts';

export function federatedDependencies(): FederatedDependencies {
  const p = ports();
  return {
    lineage: lineageOf(p),
    readObject: p.objectReader,
    store: p.federatedStore,
    exchange: p.federatedBlobs,
    urls: p.urlSigner,
    eventBus: p.eventBus,
  };
}

function step<I, R>(fn: (state: I, deps: FederatedDependencies) => Promise<R>) {
  return keelHandler(async (state: I) => fn(state, federatedDependencies()));
}

export const startSessionHandler = step(startSession);
export const configureRoundHandler = step(configureRound);
export const dispatchHandler = step((input: DispatchInput, deps) => dispatch(input, deps));
export const rosterHandler = step((state: FederatedState) => roster(state));
export const routeHandler = step(route);
export const collectHandler = step(collect);
export const aggregateHandler = step(aggregate);
export const finishHandler = step(finish);
export const recordFailureHandler = step(recordFailure);

function apiDependencies() {
  const raw = requireEnv(FEDERATED_ENV.models);
  let parsed: ReturnType<typeof federatedModelsSchema.safeParse>;
  try {
    parsed = federatedModelsSchema.safeParse(JSON.parse(raw));
  } catch (cause) {
    throw new ConfigError(`${FEDERATED_ENV.models} is not JSON`, [], { cause });
  }
  if (!parsed.success) throw ConfigError.fromZod(`${FEDERATED_ENV.models} is invalid`, parsed.error);
  const p = ports();
  return { ...parsed.data, store: p.federatedStore, pipelines: p.pipelineRunner };
}

/** `/v1/federated/{model}/...`: client registration, tasks, answers, heartbeats, sessions. */
export const federatedApiHandler = keelHandler(
  async (event: APIGatewayProxyEventV2) => federatedRoutes(event, apiDependencies()),
  { http: true },
);
