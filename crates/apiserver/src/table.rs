//! Server-side printing: `meta.k8s.io/v1 Table` responses for `kubectl get`, with the built-in
//! kinds' columns (`printers.rs`), a CRD's `additionalPrinterColumns` for custom resources, and
//! NAME/AGE otherwise.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::printers::{self, AGE, NAME};
use super::resources::ResourceType;
use super::time::age;

/// What each row's `object` holds (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// From the query parameter value.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A `PartialObjectMetadata` for an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn definition(name: &str, type_: &str, priority: i64, description: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    if let Some(cols) = printers::builtin(&rt.group, &rt.plural) {
        return cols
            .iter()
            .map(|c| definition(c.name, c.type_, c.priority, c.description))
            .collect();
    }
    if rt.printer_columns.is_empty() {
        return [NAME, AGE]
            .iter()
            .map(|c| definition(c.name, c.type_, c.priority, c.description))
            .collect();
    }
    std::iter::once(definition(NAME.name, NAME.type_, 0, NAME.description))
        .chain(
            rt.printer_columns
                .iter()
                .map(|c| definition(&c.name, &c.type_, c.priority, &c.description)),
        )
        .collect()
}

/// Renders a value found by a printer column's JSONPath (dates as ages, lists comma-joined).
fn render(v: Option<&Value>, type_: &str, now: SystemTime) -> Value {
    match (v, type_) {
        (None | Some(Value::Null), _) => Value::Null,
        (Some(Value::String(t)), "date") => Value::String(age(Some(t), now)),
        (Some(Value::Array(items)), _) => Value::String(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))), _) => v.clone(),
        (Some(v), _) => Value::String(v.to_string()),
    }
}

fn cells(rt: &ResourceType, obj: &Value, now: SystemTime) -> Vec<Value> {
    if let Some(cols) = printers::builtin(&rt.group, &rt.plural) {
        return cols.iter().map(|c| (c.cell)(obj, now)).collect();
    }
    if rt.printer_columns.is_empty() {
        return vec![(NAME.cell)(obj, now), (AGE.cell)(obj, now)];
    }
    std::iter::once((NAME.cell)(obj, now))
        .chain(
            rt.printer_columns
                .iter()
                .map(|c| render(obj.pointer(&c.json_path.replace('.', "/")), &c.type_, now)),
        )
        .collect()
}

/// A Table of `objs`, with `list_meta` (resourceVersion, continue) as its metadata.
pub fn table(rt: &ResourceType, objs: &[Value], include: IncludeObject, list_meta: Value) -> Value {
    let now = SystemTime::now();
    let rows: Vec<Value> = objs
        .iter()
        .map(|obj| {
            let mut row = json!({"cells": cells(rt, obj, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial_metadata(obj),
                IncludeObject::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns(rt),
        "rows": rows,
    })
}
