/** The first executable `name` on PATH, else in /usr/sbin, /usr/local/sbin or /usr/bin; undefined when there is none. */
export declare const findProgram: (name: string) => string | undefined
