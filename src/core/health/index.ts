// Failure detection for the load balancer: pure cores, each a plain JSON state plus functions of
// (state, event, now). The UpstreamPool Durable Object persists them and drives them from its alarm.
export * as breaker from "./circuit-breaker";
export * as outlier from "./outlier";
export * as phiAccrual from "./phi-accrual";
export * as riseFall from "./rise-fall";
