/** Subject and JetStream names of SPEC §3, all derived from the prefix `P`. */
export interface Names {
  prefix: string;
  jobsBucket: string;
  leasesBucket: string;
  orchestratorsBucket: string;
  executionsStream: string;
  eventsStream: string;
  consumer: string;
  queueGroup: string;
}

export function names(prefix: string): Names {
  return {
    prefix,
    jobsBucket: `${prefix}_jobs`,
    leasesBucket: `${prefix}_leases`,
    orchestratorsBucket: `${prefix}_orchestrators`,
    executionsStream: `${prefix}_EXECUTIONS`,
    eventsStream: `${prefix}_EVENTS`,
    consumer: `${prefix}_scheduler`,
    queueGroup: `${prefix}_scheduler`,
  };
}

export const commandSubject = (p: string, o: string, op: string): string => `${p}.${o}.schedule.${op}`;
export const commandWildcard = (p: string): string => `${p}.*.schedule.*`;
export const dispatchSubject = (p: string, o: string, actionType: string): string => `${p}.${o}.dispatch.${actionType}`;
/** SPEC §10: cancel requests of `cancel_other` / `terminate_other` (not a target type: `cancel` is reserved). */
export const cancelSubject = (p: string, o: string): string => `${p}.${o}.dispatch.cancel`;
export const completedSubject = (p: string, o: string): string => `${p}.${o}.execution.completed`;
export const heartbeatSubject = (p: string, o: string): string => `${p}.${o}.execution.heartbeat`;
export const executionWildcard = (p: string): string => `${p}.*.execution.>`;
export const eventSubject = (p: string, o: string, jobId: string, type: string): string => `${p}.${o}.events.${jobId}.${type}`;
export const eventWildcard = (p: string): string => `${p}.*.events.>`;

/**
 * Internal: where a replica receives the commands and execution messages that another replica
 * forwards to it as the orchestrator's owner (not part of the public contract).
 */
export const forwardSubject = (p: string, replicaId: string): string => `_SCHED.${p}.${replicaId}`;
