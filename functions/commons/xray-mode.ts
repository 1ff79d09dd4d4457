/**
 * Importing the X-Ray SDK (Powertools Tracer does) starts its automatic mode: cls-hooked async
 * hooks that track the creation and destruction of every promise in the process, ~30 µs of a
 * ~250 µs single-row prediction, whether or not anything is traced. Where Powertools will not
 * trace (outside Lambda, or `POWERTOOLS_TRACE_ENABLED=false`) nothing reads that context, so
 * start the SDK in manual mode there. It reads the variable once, when it loads, and cls-hooked
 * never removes a hook once enabled: this module must be evaluated before the SDK, which is
 * why `powertools.ts` imports it first. An explicit `AWS_XRAY_MANUAL_MODE` is left alone.
 */
const tracingOff =
  process.env.POWERTOOLS_TRACE_ENABLED?.toLowerCase() === 'false' || !process.env.AWS_EXECUTION_ENV;
if (tracingOff && process.env.AWS_XRAY_MANUAL_MODE === undefined) process.env.AWS_XRAY_MANUAL_MODE = 'true';

export {};
