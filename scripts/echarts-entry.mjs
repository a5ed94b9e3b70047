// The ECharts build tlswatch serves: only what its charts use (bars and lines on a grid, with
// tooltip and legend, drawn on canvas), bundled by esbuild at `npm ci` into
// public/echarts.min.js as the global `echarts` the WASM calls (`init`, `dispose`; the
// end-to-end tests read charts back with `getInstanceByDom`). Named imports, so esbuild leaves
// out the rest of `echarts/core`'s API. See BENCHMARKS.md for the sizes.
import { use, init, dispose, getInstanceByDom } from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);
window.echarts = { init, dispose, getInstanceByDom };
