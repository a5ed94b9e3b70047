// The ECharts build tlswatch serves: only what its charts use (bars and lines on a grid, with
// tooltip and legend, drawn on canvas), bundled by esbuild at `npm ci` into
// public/echarts.min.js as the global `echarts` that charming calls. About half the bytes of
// the full build (see BENCHMARKS.md).
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);
window.echarts = echarts;
