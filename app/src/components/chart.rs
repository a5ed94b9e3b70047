//! Daily successes vs failures: an ECharts chart drawn in the browser through charming, with a
//! table view of the same numbers (for screen readers and for copying).

use leptos::prelude::*;

use crate::api::DayPoint;

/// Stacked daily bars of successful and failed sessions.
///
/// The `<div>` is rendered on the server and stays in place; an effect (browser only) draws
/// the chart into it and redraws it whenever `points` changes. Nothing here depends on the data
/// during server rendering, so hydration always matches.
#[component]
pub fn DailyChart(
    /// Element id of the chart container.
    id: &'static str,
    /// The points to draw; `None` while loading.
    points: Signal<Option<Vec<DayPoint>>>,
    /// Logarithmic value axis (bars side by side instead of stacked).
    #[prop(optional, into)]
    log: Signal<bool>,
    /// Failed sessions only (small failure counts are visible next to nothing).
    #[prop(optional, into)]
    failures_only: Signal<bool>,
) -> impl IntoView {
    Effect::new(move |_| {
        let (log, failures_only) = (log.get(), failures_only.get());
        if let Some(points) = points.get() {
            #[cfg(feature = "hydrate")]
            browser::draw(id, &points, log, failures_only);
            #[cfg(not(feature = "hydrate"))]
            let _ = (points, log, failures_only);
        }
    });
    #[cfg(feature = "hydrate")]
    on_cleanup(move || browser::forget(id));

    view! {
        <div id=id class="chart" role="img" aria-label="Daily successful and failed sessions and the failure rate; the table view below lists the same numbers"></div>
    }
}

/// The numbers of a [`DailyChart`] as a table (accessibility, copying).
///
/// Rendered where the data is already resolved (inside `Suspense`/`Transition`), so the server
/// and the browser render the same rows.
#[component]
pub fn ChartTable(
    /// The points the chart draws.
    points: Vec<DayPoint>,
) -> impl IntoView {
    view! {
        <details class="table-view">
            <summary>"Table view"</summary>
            <table>
                <thead><tr><th>"Day (UTC)"</th><th class="num">"Successful"</th><th class="num">"Failed"</th><th class="num">"Failure rate"</th></tr></thead>
                <tbody>
                    {points.into_iter().map(|p| view! {
                        <tr><td>{p.day.clone()}</td><td class="num"><crate::components::Count n=p.success/></td><td class="num"><crate::components::Count n=p.failure/></td>
                            <td class="num">{super::rate(p.success, p.failure)}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </details>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use charming::component::{Axis, Grid, Legend};
    use charming::element::{AxisType, ItemStyle, Tooltip, Trigger};
    use charming::series::{Bar, Line};
    use wasm_bindgen::JsValue;

    use crate::api::DayPoint;

    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        /// An ECharts instance.
        type Instance;

        #[wasm_bindgen(js_namespace = echarts, js_name = init)]
        fn init(element: &web_sys::Element, theme: &str) -> Instance;

        #[wasm_bindgen(method, js_name = setOption)]
        fn set_option(this: &Instance, option: &JsValue);

        #[wasm_bindgen(js_namespace = echarts, js_name = dispose)]
        fn dispose(chart: &Instance);
    }

    thread_local! {
        static CHARTS: RefCell<HashMap<&'static str, Instance>> = RefCell::new(HashMap::new());
    }

    fn prefers_dark() -> bool {
        web_sys::window()
            .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
            .is_some_and(|m| m.matches())
    }

    /// Today (UTC) as `YYYY-MM-DD`.
    fn today() -> String {
        String::from(js_sys::Date::new_0().to_iso_string())
            .chars()
            .take(10)
            .collect()
    }

    /// One part of the option as the JS value ECharts reads (what charming's renderer does
    /// for a whole `Chart`).
    fn js<T: serde::Serialize>(part: &T) -> JsValue {
        serde_wasm_bindgen::to_value(part).unwrap_or(JsValue::UNDEFINED)
    }

    fn set(object: &js_sys::Object, key: &str, value: &JsValue) {
        let _ = js_sys::Reflect::set(object, &JsValue::from_str(key), value);
    }

    fn array(parts: impl IntoIterator<Item = JsValue>) -> JsValue {
        parts.into_iter().collect::<js_sys::Array>().into()
    }

    /// The chart's option. The parts (series, axes, grid, legend, tooltip) are charming's
    /// types; they are put together here rather than in a `charming::Chart`, whose
    /// serializer reaches every series and component type ECharts has (and whose renderer
    /// carries every theme): about 30 KB of the compressed WASM the overview would load.
    fn option(points: &[DayPoint], log: bool, failures_only: bool) -> JsValue {
        // The current day is still being reported: its label says so.
        let today = today();
        let days: Vec<String> = points
            .iter()
            .map(|p| {
                if p.day == today {
                    format!("{} (so far)", p.day)
                } else {
                    p.day.clone()
                }
            })
            .collect();
        let success: Vec<i64> = points.iter().map(|p| p.success).collect();
        let failure: Vec<i64> = points.iter().map(|p| p.failure).collect();
        // A day without sessions has no rate: a gap in the line, not a zero.
        let rate: Vec<Option<f64>> = points
            .iter()
            .map(|p| {
                let total = p.success + p.failure;
                (total > 0).then(|| (p.failure as f64 * 10_000.0 / total as f64).round() / 100.0)
            })
            .collect();
        let option = js_sys::Object::new();
        set(
            &option,
            "backgroundColor",
            &JsValue::from_str("transparent"),
        );
        set(
            &option,
            "tooltip",
            &js(&Tooltip::new().trigger(Trigger::Axis)),
        );
        set(&option, "legend", &js(&Legend::new().top("0")));
        set(
            &option,
            "grid",
            &js(&Grid::new()
                .left("3%")
                .right("3%")
                .bottom("3%")
                .contain_label(true)),
        );
        set(
            &option,
            "xAxis",
            &js(&Axis::new().type_(AxisType::Category).data(days)),
        );
        set(
            &option,
            "yAxis",
            &array([
                js(&Axis::new()
                    .type_(if log { AxisType::Log } else { AxisType::Value })
                    .name(if log { "sessions (log)" } else { "sessions" })),
                js(&Axis::new()
                    .type_(AxisType::Value)
                    .name("failure rate %")
                    .position("right")
                    .min(0)),
            ]),
        );
        let mut series = Vec::new();
        if !failures_only {
            series.push(js(&bar("Successful", "#2e7d32", log).data(success)));
        }
        series.push(js(&bar("Failed", "#c62828", log).data(failure)));
        series.push(js(&Line::new()
            .name("Failure rate %")
            .y_axis_index(1)
            .item_style(ItemStyle::new().color("#e65100"))
            .data(rate)));
        set(&option, "series", &array(series));
        option.into()
    }

    pub fn draw(id: &'static str, points: &[DayPoint], log: bool, failures_only: bool) {
        let option = option(points, log, failures_only);
        CHARTS.with(|charts| {
            let mut charts = charts.borrow_mut();
            if let Some(existing) = charts.get(id) {
                existing.set_option(&option);
                return;
            }
            let Some(element) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id(id))
            else {
                leptos::logging::error!("chart {id} could not be drawn: no such element");
                return;
            };
            let instance = init(&element, if prefers_dark() { "dark" } else { "" });
            instance.set_option(&option);
            charts.insert(id, instance);
        });
    }

    // A log axis cannot stack (zero has no place on it): bars go side by side there.
    fn bar(name: &str, color: &str, log: bool) -> Bar {
        let bar = Bar::new()
            .name(name)
            .item_style(ItemStyle::new().color(color));
        if log {
            bar
        } else {
            bar.stack("sessions")
        }
    }

    pub fn forget(id: &'static str) {
        CHARTS.with(|charts| {
            if let Some(instance) = charts.borrow_mut().remove(id) {
                dispose(&instance);
            }
        });
    }
}
