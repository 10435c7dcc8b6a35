// CI checks of the service files in deploy/ (run after `npm run build`):
//   systemd     `systemd-analyze verify` and `security` on the unit, staged in a temp root
//               with the command it starts; the settings docs/deploy.md promises
//   kubernetes  the YAML parsed; the fields that matter checked against each other
//   docker      the Dockerfile's structure; its ENTRYPOINT/CMD and HEALTHCHECK commands
//               run against the bundle with the Dockerfile's own ENV
//   windows     the WinSW XML parsed (python3); executable, arguments, env, stop, restart, logs
//   config      the example configuration file passes `proxy --config FILE --check`; a broken copy does not
//   env         every SOCKET_PROXY_* name in deploy/ and docs/deploy.md is one the proxy knows
//   haproxy     deploy/haproxy/haproxy.cfg has mode tcp, send-proxy-v2, the /healthz check on a port and
//               on-marked-down shutdown-sessions; `haproxy -c` accepts it (skipped, with a NOTICE, without haproxy)
//   grafana     deploy/grafana/socket-proxy.json loads, and every metric its queries name is
//               one the built proxy exports (scraped from the bundle after real traffic)
// Each check prints `ok - ...`; the first failure stops the run with exit 1.
// Usage: node scripts/check-deploy.mjs [systemd|kubernetes|docker|windows|config|env|haproxy|grafana ...]
import { expect, runChecks } from "./lib/Report.mjs"
import { checkConfigFile } from "./deploy-checks/ConfigFile.mjs"
import { checkDocker } from "./deploy-checks/Docker.mjs"
import { checkEnvNames } from "./deploy-checks/EnvNames.mjs"
import { checkGrafana } from "./deploy-checks/Grafana.mjs"
import { checkHaproxy } from "./deploy-checks/HaProxy.mjs"
import { checkKubernetes } from "./deploy-checks/Kubernetes.mjs"
import { checkSystemd } from "./deploy-checks/Systemd.mjs"
import { checkWindows } from "./deploy-checks/Windows.mjs"

const checks = {
  systemd: checkSystemd,
  kubernetes: checkKubernetes,
  docker: checkDocker,
  windows: checkWindows,
  config: checkConfigFile,
  env: checkEnvNames,
  haproxy: checkHaproxy,
  grafana: checkGrafana
}
const wanted = process.argv.slice(2)

await runChecks("deploy-checks", async () => {
  for (const name of wanted) expect(name in checks, `unknown check ${name}; known: ${Object.keys(checks).join(", ")}`)
  for (const [name, check] of Object.entries(checks)) {
    if (wanted.length === 0 || wanted.includes(name)) await check()
  }
})
