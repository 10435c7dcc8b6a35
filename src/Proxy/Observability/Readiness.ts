/** What `/healthz` reports: 200 only while the proxy is listening and not shutting down. */
export type ReadinessState = "starting" | "ready" | "draining"

export class Readiness {
  state: ReadinessState = "starting"
}
