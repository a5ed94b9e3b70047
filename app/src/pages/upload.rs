//! `/upload`: drop or pick many report files; each is sent on its own (`POST /api/upload`), so
//! one bad file never blocks the others, and each gets its own result.

use leptos::prelude::*;

/// One file's line in the results table.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRow {
    /// File name (from the user's disk: rendered as text).
    pub name: String,
    /// `uploading`, `imported`, `duplicate`, `rejected`, `error`.
    pub status: String,
    /// Report count or reason.
    pub detail: String,
}

/// `/upload`.
#[component]
pub fn UploadPage() -> impl IntoView {
    let rows = RwSignal::new(Vec::<UploadRow>::new());
    let done = RwSignal::new(0usize);
    let on_change = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(input) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                if let Some(files) = input.files() {
                    browser::upload_all(files, rows, done);
                }
                input.set_value("");
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        if let Some(files) = ev.data_transfer().and_then(|d| d.files()) {
            browser::upload_all(files, rows, done);
        }
    };
    view! {
        <section class="page">
            <h1>"Upload reports"</h1>
            <p class="hint">"TLS-RPT reports as " <code>".json"</code>", "<code>".json.gz"</code>", "<code>".gz"</code>", "
                <code>".zip"</code>", "<code>".eml"</code>" or mbox files. Each file is imported on its own."</p>
            <div class="dropzone" on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
                <p>"Drop files here, or "</p>
                <label class="button">"choose files" <input id="files" type="file" multiple on:change=on_change/></label>
            </div>
            {move || {
                let total = rows.with(Vec::len);
                (total > 0).then(|| view! {
                    <p id="upload-progress"><progress max=total value=move || done.get()></progress>
                        {move || format!(" {} of {} files done", done.get(), total)}</p>
                })
            }}
            <table id="upload-results">
                <thead><tr><th>"File"</th><th>"Result"</th><th>"Details"</th></tr></thead>
                <tbody>
                    {move || rows.get().into_iter().map(|r| { let class = format!("status-{}", r.status); view! {
                        <tr class=class><td>{r.name}</td><td class="status">{r.status}</td><td>{r.detail}</td></tr> }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    use super::UploadRow;

    pub fn upload_all(
        files: web_sys::FileList,
        rows: RwSignal<Vec<UploadRow>>,
        done: RwSignal<usize>,
    ) {
        let files: Vec<web_sys::File> = (0..files.length()).filter_map(|i| files.get(i)).collect();
        let start = rows.with_untracked(Vec::len);
        rows.update(|r| {
            r.extend(files.iter().map(|f| UploadRow {
                name: f.name(),
                status: "uploading".into(),
                detail: String::new(),
            }))
        });
        leptos::task::spawn_local(async move {
            for (k, file) in files.into_iter().enumerate() {
                let (status, detail) = match send(&file).await {
                    Ok(v) => v,
                    Err(e) => ("error".to_owned(), e),
                };
                rows.update(|r| {
                    if let Some(row) = r.get_mut(start + k) {
                        row.status = status;
                        row.detail = detail;
                    }
                });
                done.update(|d| *d += 1);
            }
        });
    }

    async fn send(file: &web_sys::File) -> Result<(String, String), String> {
        let err = |e: wasm_bindgen::JsValue| format!("{e:?}");
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(file);
        let headers = web_sys::Headers::new().map_err(err)?;
        headers
            .set(
                "x-filename",
                &js_sys::encode_uri_component(&file.name())
                    .as_string()
                    .unwrap_or_default(),
            )
            .map_err(err)?;
        headers
            .set("content-type", "application/octet-stream")
            .map_err(err)?;
        init.set_headers(&headers);
        let request = web_sys::Request::new_with_str_and_init("/api/upload", &init).map_err(err)?;
        let window = web_sys::window().ok_or("no window")?;
        let resp: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
            .await
            .map_err(err)?
            .dyn_into()
            .map_err(err)?;
        let text = JsFuture::from(resp.text().map_err(err)?)
            .await
            .map_err(err)?
            .as_string()
            .unwrap_or_default();
        if !resp.ok() {
            return Err(format!("HTTP {}: {}", resp.status(), text.trim()));
        }
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let status = v["status"].as_str().unwrap_or("error").to_owned();
        let detail = match status.as_str() {
            "imported" => format!("{} report(s) imported", v["reports"]),
            "duplicate" => "already imported".to_owned(),
            _ => v["reason"].as_str().unwrap_or("").to_owned(),
        };
        Ok((status, detail))
    }
}
