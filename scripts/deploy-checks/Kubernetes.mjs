// Kubernetes: the YAML parsed; the fields that matter checked against each other.
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { parse, parseAllDocuments } from "yaml"
import { run } from "../lib/Child.mjs"
import { expect, fail, ok } from "../lib/Report.mjs"
import { bundle, defaultDrainSeconds, portOf, read, seconds } from "./Common.mjs"

/** The built proxy's `--check` of a configuration file's text: exit 0, or the failure. */
const checkFile = async (name, text) => {
  const dir = await mkdtemp(path.join(tmpdir(), "socket-proxy-k8s-"))
  try {
    const file = path.join(dir, name)
    await writeFile(file, text)
    const checked = await run(process.execPath, [bundle, "proxy", "--config", file, "--check"])
    expect(checked.code === 0, `kubernetes: the ConfigMap's ${name} does not pass --check: ${checked.stderr}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export const checkKubernetes = async () => {
  const text = await read("deploy/kubernetes/socket-proxy.yaml")
  const documents = parseAllDocuments(text)
  for (const document of documents) {
    expect(document.errors.length === 0, `kubernetes YAML: ${document.errors.map((error) => error.message).join("; ")}`)
  }
  const objects = documents.map((document) => document.toJS())
  const find = (kind) => objects.find((object) => object?.kind === kind) ?? fail(`kubernetes YAML: no ${kind}`)
  const deployment = find("Deployment")
  const service = find("Service")
  expect(
    deployment.apiVersion === "apps/v1" && service.apiVersion === "v1",
    "kubernetes: apiVersions must be apps/v1 and v1"
  )

  const spec = deployment.spec
  const labels = spec.template.metadata.labels
  const matches = (selector) =>
    Object.keys(selector ?? {}).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value)
  expect(matches(spec.selector.matchLabels), "kubernetes: Deployment selector does not match its pod labels")
  expect(matches(service.spec.selector), "kubernetes: Service selector does not match the pod labels")

  const containers = spec.template.spec.containers
  expect(containers.length === 1, "kubernetes: expected one container")
  const [container] = containers
  expect(
    /:[\w.-]+$/.test(container.image) && !container.image.endsWith(":latest"),
    `kubernetes: image ${container.image} needs a version tag`
  )
  const ports = Object.fromEntries((container.ports ?? []).map((port) => [port.name, port.containerPort]))
  expect(
    ports.feed !== undefined && ports.metrics !== undefined,
    "kubernetes: container ports `feed` and `metrics` are needed"
  )
  // The settings: from the ConfigMap's file (`proxy --config FILE`), in the env's names for the checks below.
  const args = container.args ?? []
  const configAt = args.indexOf("--config")
  expect(configAt > 0, "kubernetes: the container must run `proxy --config FILE`")
  const configPath = args[configAt + 1]
  const mount = (container.volumeMounts ?? []).find((m) => configPath.startsWith(`${m.mountPath}/`))
  expect(
    mount !== undefined && mount.subPath === undefined,
    `kubernetes: ${configPath} must be in a volume mounted as a directory (no subPath, or ConfigMap updates are not seen)`
  )
  const volume = (spec.template.spec.volumes ?? []).find((v) => v.name === mount.name)
  const configMap = find("ConfigMap")
  expect(
    volume?.configMap?.name === configMap.metadata.name,
    `kubernetes: volume ${mount.name} must be the ConfigMap ${configMap.metadata.name}`
  )
  const fileName = path.basename(configPath)
  const fileText = configMap.data?.[fileName] ?? fail(`kubernetes: the ConfigMap has no ${fileName}`)
  await checkFile(fileName, fileText)
  const file = parse(fileText)
  const env = {
    SOCKET_PROXY_METRICS: file.metrics,
    SOCKET_PROXY_DRAIN_TIMEOUT: file["drain-timeout"]
  }
  expect(
    file.routes.some((route) => portOf(route.listen) === ports.feed),
    "kubernetes: no route of the file listens on the `feed` port"
  )
  expect(portOf(env.SOCKET_PROXY_METRICS) === ports.metrics, "kubernetes: the file's metrics is not the `metrics` port")
  expect(
    /^\d+$/.test(String(env.SOCKET_PROXY_METRICS)),
    "kubernetes: metrics must be a port alone (every interface) for the kubelet's probes"
  )

  for (const probeName of ["readinessProbe", "livenessProbe"]) {
    const probe = container[probeName]?.httpGet
    expect(probe?.path === "/healthz", `kubernetes: ${probeName} must GET /healthz`)
    expect(
      probe.port === "metrics" || probe.port === ports.metrics,
      `kubernetes: ${probeName} must use the metrics port`
    )
  }
  for (const port of service.spec.ports) {
    expect(
      ports[port.targetPort] !== undefined || Object.values(ports).includes(port.targetPort),
      `kubernetes: Service targetPort ${port.targetPort} is no container port`
    )
  }
  const resources = container.resources ?? {}
  for (const kind of ["requests", "limits"]) {
    expect(
      resources[kind]?.cpu !== undefined && resources[kind]?.memory !== undefined,
      `kubernetes: resources.${kind} needs cpu and memory`
    )
  }
  const drain = seconds(env.SOCKET_PROXY_DRAIN_TIMEOUT ?? `${defaultDrainSeconds}s`)
  const preStop = container.lifecycle?.preStop?.exec?.command ?? []
  const pause = preStop[0] === "sleep" ? Number(preStop[1]) : 0
  const grace = spec.template.spec.terminationGracePeriodSeconds ?? 30
  expect(
    grace > pause + drain,
    `kubernetes: terminationGracePeriodSeconds ${grace} must exceed preStop ${pause} s + drain ${drain} s`
  )
  const security = spec.template.spec.securityContext ?? {}
  expect(
    security.runAsNonRoot === true && security.runAsUser > 0,
    "kubernetes: pod must run as non-root with a numeric user"
  )
  ok(
    `kubernetes: ConfigMap + Deployment + Service parse; the file passes --check; selectors, ports, /healthz probes, resources, grace ${grace} s > ${pause} s + drain ${drain} s`
  )
}
