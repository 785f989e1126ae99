//! The kinds the server serves: group, version, plural, kind, scope, short names, printer columns.
//! Built-ins are fixed; custom resources come and go with their CustomResourceDefinition objects.

use serde_json::Value;

/// One served resource (one version of it: the double serves a single version per resource).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural resource name used in paths, e.g. `nodes`.
    pub plural: String,
    /// Singular name, e.g. `node`.
    pub singular: String,
    /// Kind, e.g. `Node`.
    pub kind: String,
    /// Namespaced (true) or cluster-scoped (false).
    pub namespaced: bool,
    /// Short names, e.g. `no`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Served by a CustomResourceDefinition (custom resources refuse strategic merge patch).
    pub custom: bool,
    /// Has a `status` subresource: writes to the main resource leave `status` alone.
    pub status_subresource: bool,
    /// The verbs served (all of [`VERBS`], or only `create` for reviews that are not stored).
    pub verbs: &'static [&'static str],
    /// `additionalPrinterColumns` of the CRD version (custom resources only).
    pub printer_columns: Vec<PrinterColumn>,
}

/// A CRD `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `date`, ...
    pub type_: String,
    /// Simple JSONPath such as `.spec.allowedIPs`.
    pub json_path: String,
    /// Description.
    pub description: String,
    /// 0 = always shown, 1+ = shown with `-o wide`.
    pub priority: i64,
}

/// Verbs every served resource supports.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl ResourceType {
    fn builtin(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        short: &[&str],
    ) -> Self {
        ResourceType {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            categories: Vec::new(),
            custom: false,
            status_subresource: !matches!(plural, "endpoints" | "endpointslices" | "events" | "configmaps"),
            verbs: VERBS,
            printer_columns: Vec::new(),
        }
    }

    /// `group/version`, or `version` for the core group: the `apiVersion` of its objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (the CRD name form), or `plural` for the core group.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The collection path, for `namespace` when namespaced (all namespaces when `None`).
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}", self.plural),
            _ => format!("{root}/{}", self.plural),
        }
    }

    /// The resources a fresh store serves.
    pub fn builtins() -> Vec<ResourceType> {
        let ns = Self::builtin("", "v1", "namespaces", "Namespace", false, &["ns"]);
        let mut svc = Self::builtin("", "v1", "services", "Service", true, &["svc"]);
        svc.categories = vec!["all".into()];
        let mut pods = Self::builtin("", "v1", "pods", "Pod", true, &["po"]);
        pods.categories = vec!["all".into()];
        let mut review = Self::builtin(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
            &[],
        );
        review.verbs = &["create"];
        review.status_subresource = false;
        vec![
            Self::builtin("", "v1", "nodes", "Node", false, &["no"]),
            ns,
            svc,
            Self::builtin("", "v1", "endpoints", "Endpoints", true, &["ep"]),
            Self::builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"]),
            pods,
            Self::builtin("", "v1", "events", "Event", true, &["ev"]),
            Self::builtin(
                "discovery.k8s.io",
                "v1",
                "endpointslices",
                "EndpointSlice",
                true,
                &[],
            ),
            Self::builtin(
                "networking.k8s.io",
                "v1",
                "servicecidrs",
                "ServiceCIDR",
                false,
                &[],
            ),
            review,
            Self::builtin(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                &["crd", "crds"],
            ),
        ]
    }

    /// The resource a CustomResourceDefinition object defines (its first served version).
    pub fn from_crd(crd: &Value) -> Option<ResourceType> {
        let spec = crd.get("spec")?;
        let names = spec.get("names")?;
        let version = spec
            .get("versions")?
            .as_array()?
            .iter()
            .find(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))?;
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let kind = names.get("kind")?.as_str()?.to_string();
        let printer_columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| cols.iter().filter_map(PrinterColumn::from_json).collect())
            .unwrap_or_default();
        Some(ResourceType {
            group: spec.get("group")?.as_str()?.to_string(),
            version: version.get("name")?.as_str()?.to_string(),
            plural: names.get("plural")?.as_str()?.to_string(),
            singular: names
                .get("singular")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_lowercase()),
            kind,
            namespaced: spec.get("scope").and_then(Value::as_str) == Some("Namespaced"),
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            custom: true,
            status_subresource: version.pointer("/subresources/status").is_some(),
            verbs: VERBS,
            printer_columns,
        })
    }
}

impl PrinterColumn {
    fn from_json(v: &Value) -> Option<PrinterColumn> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        Some(PrinterColumn {
            name: v.get("name")?.as_str()?.to_string(),
            type_: s("type"),
            json_path: v.get("jsonPath")?.as_str()?.to_string(),
            description: s("description"),
            priority: v.get("priority").and_then(Value::as_i64).unwrap_or(0),
        })
    }
}

/// The set of served resources.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    /// A registry with the built-ins.
    pub fn with_builtins() -> Self {
        Registry {
            types: ResourceType::builtins(),
        }
    }

    /// All served resources.
    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    /// Adds or replaces the resource with the same group and plural.
    pub fn register(&mut self, rt: ResourceType) {
        self.types
            .retain(|t| !(t.group == rt.group && t.plural == rt.plural));
        self.types.push(rt);
    }

    /// Stops serving `group`/`plural`.
    pub fn unregister(&mut self, group: &str, plural: &str) {
        self.types.retain(|t| !(t.group == group && t.plural == plural));
    }

    /// By path segments.
    pub fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// By `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
    }

    /// The served group/versions other than core, in registration order, deduplicated.
    pub fn groups(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            if !out.iter().any(|(g, v)| *g == t.group && *v == t.version) {
                out.push((t.group.clone(), t.version.clone()));
            }
        }
        out
    }
}
