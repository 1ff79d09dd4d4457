/**
 * Names and shapes of Keel's data resources, shared by the CDK stack that creates them in AWS
 * and the local provisioner that creates them on an emulator, so both are always alike.
 */

/** Environment variables through which handlers find the resources (set by the CDK `bind*` methods). */
export const RESOURCE_ENV = {
  table: 'KEEL_TABLE_NAME',
  lineageBucket: 'KEEL_LINEAGE_BUCKET',
  captureBucket: 'KEEL_CAPTURE_BUCKET',
  /** Federated rounds' exchanges: client uploads (presigned PUT), inboxes, global models. */
  federatedBucket: 'KEEL_FEDERATED_BUCKET',
} as const;

/**
 * The single registry table: generic partition/sort keys and one overloaded secondary index,
 * so new entity types need no schema change.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  indexes: [{ name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' }],
} as const;

/** Local resource names for a project; in AWS the CDK generates unique physical names. */
export function localResourceNames(project: string) {
  return {
    table: `${project}-registry`,
    lineageBucket: `${project}-lineage`,
    captureBucket: `${project}-capture`,
    federatedBucket: `${project}-federated`,
  } as const;
}

/** Environment variables read by the AWS adapters; the CDK `bind*` methods set them. */
export const PORT_ENV = {
  eventBusName: 'KEEL_EVENT_BUS_NAME',
  stateMachineArns: 'KEEL_STATE_MACHINE_ARNS',
  deploymentGroups: 'KEEL_DEPLOYMENT_GROUPS',
} as const;
