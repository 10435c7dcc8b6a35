import * as Data from "effect/Data"

/**
 * A configuration value that cannot be used. `setting` names where it came from
 * (a flag such as `--dest` or an env variable such as `SOCKET_PROXY_DESTINATIONS`),
 * so the message points the user at the exact thing to fix.
 */
export class InvalidConfig extends Data.TaggedError("InvalidConfig")<{
  readonly setting: string
  readonly value: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid ${this.setting} ${JSON.stringify(this.value)}: ${this.reason}`
  }
}

/** A required setting was given neither as a flag nor in the environment. */
export class MissingConfig extends Data.TaggedError("MissingConfig")<{
  readonly setting: string
  readonly hint: string
}> {
  override get message(): string {
    return `missing ${this.setting}: ${this.hint}`
  }
}

/**
 * A command line that cannot be run as written: an unknown or repeated flag,
 * flags that exclude each other. `detail` is the whole sentence, naming the flag.
 */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly detail: string
}> {
  override get message(): string {
    return this.detail
  }
}

/**
 * A configuration file that cannot be used: `path` is where in it (`routes[1].listen`),
 * empty for the file as a whole.
 */
export class InvalidConfigFile extends Data.TaggedError("InvalidConfigFile")<{
  readonly file: string
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return this.path === "" ? `${this.file}: ${this.reason}` : `${this.file}: ${this.path}: ${this.reason}`
  }
}

/** The listening socket could not be opened (port in use, no permission, bad address). */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly address: string
  readonly code: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot listen on ${this.address}: ${this.reason}`
  }
}

/** A destination could not be reached; the forwarder logs it and redials. */
export class ConnectError extends Data.TaggedError("ConnectError")<{
  readonly destination: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot connect to ${this.destination}: ${this.reason}`
  }
}

/**
 * An established connection ended abnormally: reset, closed by the peer while
 * we still had data for it, a write that did not complete in time, or cut by
 * the proxy because it held the source back for too long.
 */
export class ConnectionLost extends Data.TaggedError("ConnectionLost")<{
  readonly peer: string
  readonly reason: string
}> {
  override get message(): string {
    return `connection to ${this.peer} lost: ${this.reason}`
  }
}

export type ConfigError = InvalidConfig | MissingConfig | InvalidConfigFile | UsageError
