/**
 * Linear programs for the code that needs one (threshold post-processing), solved by HiGHS:
 * the solver scipy's `linprog` uses by default, compiled to WebAssembly (the `highs` package).
 * Its loader is asynchronous and its solves synchronous, so a caller loads the solver once
 * (`loadLinearProgramSolver`) and hands the function to synchronous code such as `train`.
 */
import { createRequire } from 'node:module';

/**
 * The CommonJS build, required on first use (it is 170 KB of JavaScript every CLI command and
 * every pipeline step would otherwise parse): it finds highs.wasm beside itself, in
 * node_modules or in the pipeline's Lambda layer (Lambda bundles leave the package out, since
 * they cannot carry the wasm file).
 */
const highsLoader = () =>
  // A CommonJS bundle (every Lambda) has no import.meta.url; its __filename anchors the lookup.
  createRequire(typeof __filename === 'string' ? __filename : import.meta.url)(
    'highs',
  ) as typeof import('highs')['default'];

/** Minimise `objective · x` subject to `constraints`, every variable ≥ 0. */
export interface LinearProgram {
  readonly objective: ArrayLike<number>;
  readonly constraints: readonly {
    /** Sparse row: (variable index, coefficient). */
    readonly terms: readonly (readonly [number, number])[];
    readonly sense: '=' | '<=' | '>=';
    readonly rhs: number;
  }[];
}

export interface LinearProgramSolution {
  /** HiGHS's model status, e.g. `Optimal`, `Infeasible`. */
  readonly status: string;
  readonly x: Float64Array;
  readonly objective: number;
}

export type LinearProgramSolver = (program: LinearProgram) => LinearProgramSolution;

const term = (coefficient: number, variable: number) =>
  `${coefficient < 0 ? '-' : '+'} ${String(Math.abs(coefficient))} x${variable}`;

/** The program in CPLEX LP format, HiGHS's text input. */
export function lpFormat(program: LinearProgram): string {
  const n = program.objective.length;
  const objective = Array.from({ length: n }, (_, j) => term(program.objective[j] as number, j));
  const rows = program.constraints.map((c, i) => {
    for (const [j, v] of c.terms)
      if (!(j >= 0 && j < n && Number.isFinite(v)))
        throw new RangeError(`constraint ${i}: bad term x${j} = ${v}`);
    const lhs = c.terms.length > 0 ? c.terms.map(([j, v]) => term(v, j)).join(' ') : `+ 0 x0`;
    return ` c${i}: ${lhs} ${c.sense} ${String(c.rhs)}`;
  });
  return ['Minimize', ` obj: ${objective.join(' ')}`, 'Subject To', ...rows, 'End', ''].join('\n');
}

let loading: Promise<LinearProgramSolver> | undefined;

/** HiGHS, loaded once per process (about 70 ms to compile its 3.5 MB of WebAssembly). */
export function loadLinearProgramSolver(): Promise<LinearProgramSolver> {
  loading ??= Promise.resolve()
    .then(() => highsLoader()())
    .then((highs) => (program: LinearProgram): LinearProgramSolution => {
      const solution = highs.solve(lpFormat(program));
      const x = new Float64Array(program.objective.length);
      if (solution.Status === 'Optimal')
        for (const [name, column] of Object.entries(solution.Columns))
          x[Number(name.slice(1))] = (column as { Primal: number }).Primal;
      return { status: solution.Status, x, objective: solution.ObjectiveValue };
    });
  // A failed load is not remembered: the next caller tries again.
  loading.catch(() => {
    loading = undefined;
  });
  return loading as Promise<LinearProgramSolver>;
}
