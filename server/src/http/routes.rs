//! A route table that remembers its routes: the REST routers are built with it, so the list
//! of endpoints (for the route × role test, for docs) comes from the router itself.

use std::collections::BTreeMap;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;

use super::AppState;

/// Routes under construction: each path's handlers by method, and the list of both.
#[derive(Default)]
pub struct Routes {
    paths: BTreeMap<&'static str, MethodRouter<AppState>>,
    list: Vec<(Method, &'static str)>,
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(
        mut self,
        method: Method,
        path: &'static str,
        with: impl FnOnce(MethodRouter<AppState>) -> MethodRouter<AppState>,
    ) -> Self {
        let current = self.paths.remove(path).unwrap_or_default();
        self.paths.insert(path, with(current));
        self.list.push((method, path));
        self
    }

    /// `GET path`.
    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::GET, path, |m| m.get(h))
    }

    /// `POST path`.
    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::POST, path, |m| m.post(h))
    }

    /// `PUT path`.
    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::PUT, path, |m| m.put(h))
    }

    /// `DELETE path`.
    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::DELETE, path, |m| m.delete(h))
    }

    /// The routes, in the order they were added.
    pub fn list(&self) -> Vec<(Method, &'static str)> {
        self.list.clone()
    }

    /// The router.
    pub fn into_router(self) -> Router<AppState> {
        self.paths
            .into_iter()
            .fold(Router::new(), |r, (path, m)| r.route(path, m))
    }
}
