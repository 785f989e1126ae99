//! The contract's commands (`docs/tray-contract.md`), each run by the tray over the link: the window
//! holds no state of its own.

use std::sync::Arc;

use serde_json::{Value, json};
use tauri::State;

use crate::link::Link;

type Reply = Result<Value, Value>;

#[tauri::command]
pub async fn get_state(link: State<'_, Arc<Link>>) -> Reply {
    link.call("get_state", Value::Null).await
}

#[tauri::command]
pub async fn list_contexts(link: State<'_, Arc<Link>>) -> Reply {
    link.call("list_contexts", Value::Null).await
}

#[tauri::command]
pub async fn connect(link: State<'_, Arc<Link>>, context: Option<String>) -> Reply {
    link.call("connect", json!({ "context": context })).await
}

#[tauri::command]
pub async fn disconnect(link: State<'_, Arc<Link>>) -> Reply {
    link.call("disconnect", Value::Null).await
}

#[tauri::command]
pub async fn run_doctor(link: State<'_, Arc<Link>>) -> Reply {
    link.call("run_doctor", Value::Null).await
}

#[tauri::command]
pub async fn resolve_name(link: State<'_, Arc<Link>>, name: String) -> Reply {
    link.call("resolve_name", json!({ "name": name })).await
}

#[tauri::command]
pub async fn get_settings(link: State<'_, Arc<Link>>) -> Reply {
    link.call("get_settings", Value::Null).await
}

#[tauri::command]
pub async fn set_settings(link: State<'_, Arc<Link>>, settings: Value) -> Reply {
    link.call("set_settings", json!({ "settings": settings })).await
}

#[tauri::command]
pub async fn get_logs(link: State<'_, Arc<Link>>) -> Reply {
    link.call("get_logs", Value::Null).await
}
