//! Renderers of a Plan: a wg-quick file, the JSON document, a GraphViz graph.

pub mod dot;
pub mod graph_json;
pub mod json;
pub mod wg_quick;
