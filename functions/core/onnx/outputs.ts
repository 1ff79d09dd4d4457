/** The graph's output names, shared by the exporter and the runtime (which must not load the exporter). */
export const OUTPUTS = { label: 'label', probabilities: 'probabilities' } as const;
