/**
 * Where federated training keeps its registered clients and the tasks waiting for them (the
 * registry's table in AWS and locally). A task holds the Step Functions token its answer
 * completes; the token never leaves the server.
 */
import type { FederatedClient, FederatedTask } from '../contracts/federated.ts';

export interface StoredFederatedTask extends FederatedTask {
  readonly taskToken: string;
}

export interface FederatedStore {
  /** Registers (or re-registers) a client of a model. */
  registerClient(client: FederatedClient): Promise<void>;
  /** The model's clients, by id. */
  clients(model: string): Promise<FederatedClient[]>;
  putTask(task: StoredFederatedTask): Promise<void>;
  /** The client's tasks, oldest first. */
  tasks(model: string, client: string): Promise<StoredFederatedTask[]>;
  /** Removes and returns the task, once: a second take (a second answer) gets undefined. */
  takeTask(model: string, client: string, taskId: string): Promise<StoredFederatedTask | undefined>;
}
