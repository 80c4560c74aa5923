/**
 * Reports: paper-style tables and figures from the result files runs write
 * (`<out>/<protocol>/<dataset>/<method>/seed<seed>/result.json`). See docs/reports.md.
 */
export * from './collect.js';
export * from './result-files.js';
export * from './views.js';
export * from './format.js';
export * from './plots.js';
export * from './layout-svg.js';
export * from './shots.js';
export * from './confusion-svg.js';
export { datasetDisplayName, methodDisplayName, sortDatasets, sortMethods } from './names.js';
export { svgToPng, svgToPdf, writeFigure, esc as escapeXml, niceTicks, PNG_SCALE } from './svg.js';
