// First, so that it runs before the X-Ray SDK loads (see there).
import './xray-mode.ts';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Powertools singletons shared by every handler. Service name and namespace come from the
 * standard `POWERTOOLS_SERVICE_NAME` / `POWERTOOLS_METRICS_NAMESPACE` variables that the CDK
 * function wrapper sets; the defaults below only apply to local runs and tests.
 */
const defaults = { serviceName: 'keel' } as const;

export const logger = new Logger(defaults);
// Its warnings (an invocation without metrics) go through the Logger: structured, and at its level.
export const metrics = new Metrics({ ...defaults, namespace: 'Keel', logger });
export const tracer = new Tracer(defaults);
