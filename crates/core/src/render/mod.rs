//! Renderers of a Plan: a wg-quick file, the JSON document, a GraphViz graph.

pub mod dot;
pub mod json;
pub mod wg_quick;
