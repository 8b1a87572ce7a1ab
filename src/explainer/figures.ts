// The measured figures the page shows, taken from docs/bench and docs/plots when the page is built
// (scripts/build-explainer.mjs defines __VQ_FIGURES__).

/** One row of the figures table: what IN_ORDER gained in one suite. */
export interface GainRow {
  suite: string;
  ring: string;
  batch: string;
  gain: string;
  usedPerBuffer: string;
}

export interface Figures {
  gains: GainRow[];
  plots: { caption: string; dataUrl: string }[];
  /** Where the figures come from, and how to reproduce them. */
  source: string;
}

declare const __VQ_FIGURES__: Figures;

export const FIGURES: Figures = __VQ_FIGURES__;
