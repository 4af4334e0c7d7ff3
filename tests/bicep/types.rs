//! Microsoft's generated Bicep type definitions (`types.json` from Azure/bicep-types-az), laid out
//! as `<folder>/<namespace>/<api-version>/types.json`: each file an array of type entries that
//! refer to each other by `{"$ref": "#/N"}`. A `ResourceType` named `Microsoft.X/y@version`
//! points at the body's `ObjectType` (or `DiscriminatedObjectType`); property flags are bits:
//! 1 required, 2 read-only, 4 write-only, 8 deploy-time constant, 16 identifier.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

pub const REQUIRED: u64 = 1;
pub const READ_ONLY: u64 = 2;

/// One entry of one `types.json`.
#[derive(Clone)]
pub struct Ty {
    file: Rc<Vec<Value>>,
    index: usize,
}

impl std::fmt::Debug for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ty({})", self.describe())
    }
}

impl Ty {
    pub fn json(&self) -> &Value {
        &self.file[self.index]
    }

    pub fn kind(&self) -> &str {
        self.json()["$type"].as_str().unwrap_or("")
    }

    /// The entry a `{"$ref": "#/N"}` value points at, in the same file.
    pub fn follow(&self, reference: &Value) -> Ty {
        let index = reference["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("malformed $ref {reference}"));
        Ty {
            file: self.file.clone(),
            index,
        }
    }

    /// `properties` (or `baseProperties`) as name to (type, flags).
    pub fn properties(&self, field: &str) -> BTreeMap<String, (Ty, u64)> {
        self.json()[field]
            .as_object()
            .map(|props| {
                props
                    .iter()
                    .map(|(name, p)| {
                        let flags = p["flags"].as_u64().unwrap_or(0);
                        (name.clone(), (self.follow(&p["type"]), flags))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn additional_properties(&self) -> Option<Ty> {
        let extra = &self.json()["additionalProperties"];
        extra.is_object().then(|| self.follow(extra))
    }

    /// Members of a `UnionType`, elements of a `DiscriminatedObjectType` (value to type).
    pub fn union_members(&self) -> Vec<Ty> {
        self.json()["elements"]
            .as_array()
            .map(|e| e.iter().map(|r| self.follow(r)).collect())
            .unwrap_or_default()
    }

    pub fn discriminated_elements(&self) -> BTreeMap<String, Ty> {
        self.json()["elements"]
            .as_object()
            .map(|e| e.iter().map(|(k, r)| (k.clone(), self.follow(r))).collect())
            .unwrap_or_default()
    }

    pub fn item_type(&self) -> Option<Ty> {
        let item = &self.json()["itemType"];
        item.is_object().then(|| self.follow(item))
    }

    pub fn literal(&self) -> Option<&str> {
        (self.kind() == "StringLiteralType")
            .then(|| self.json()["value"].as_str())
            .flatten()
    }

    pub fn bound(&self, name: &str) -> Option<i64> {
        self.json()[name].as_i64()
    }

    /// A short description for messages: `'A' | 'B'`, `string`, `object Foo`, …
    pub fn describe(&self) -> String {
        match self.kind() {
            "StringLiteralType" => format!("'{}'", self.literal().unwrap_or("")),
            "StringType" => "string".into(),
            "IntegerType" => "int".into(),
            "BooleanType" => "bool".into(),
            "AnyType" => "any".into(),
            "ArrayType" => "array".into(),
            "ObjectType" | "DiscriminatedObjectType" => {
                format!("object {}", self.json()["name"].as_str().unwrap_or(""))
            }
            "UnionType" => self
                .union_members()
                .iter()
                .map(Ty::describe)
                .collect::<Vec<_>>()
                .join(" | "),
            other => other.into(),
        }
    }
}

/// Every `types.json` under the reference folder, loaded on first use.
pub struct TypeStore {
    /// Lowercase namespace to API version to the files holding it (a namespace may be split
    /// across folders, e.g. Microsoft.Insights in `applicationinsights/` and `monitor_1/`).
    index: BTreeMap<String, BTreeMap<String, Vec<PathBuf>>>,
    loaded: RefCell<HashMap<PathBuf, Rc<Vec<Value>>>>,
}

impl TypeStore {
    /// Fails loudly when the reference folder is missing or empty: the check must not pass
    /// by having nothing to check against.
    pub fn open(root: &Path) -> Self {
        let folders = fs::read_dir(root).unwrap_or_else(|e| {
            panic!(
                "the Bicep type reference {} is missing ({e}); CI and every worktree have \
                 ../shared/reference/bicep-types beside the checkout",
                root.display()
            )
        });
        let mut index: BTreeMap<String, BTreeMap<String, Vec<PathBuf>>> = BTreeMap::new();
        for folder in folders.flatten().filter(|e| e.path().is_dir()) {
            for namespace in fs::read_dir(folder.path()).into_iter().flatten().flatten() {
                for version in fs::read_dir(namespace.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let file = version.path().join("types.json");
                    if file.is_file() {
                        let ns = namespace.file_name().to_string_lossy().to_lowercase();
                        let v = version.file_name().to_string_lossy().into_owned();
                        index
                            .entry(ns)
                            .or_default()
                            .entry(v)
                            .or_default()
                            .push(file);
                    }
                }
            }
        }
        assert!(
            !index.is_empty(),
            "no <folder>/<namespace>/<version>/types.json under {}",
            root.display()
        );
        Self {
            index,
            loaded: RefCell::default(),
        }
    }

    fn load(&self, path: &Path) -> Rc<Vec<Value>> {
        if let Some(file) = self.loaded.borrow().get(path) {
            return file.clone();
        }
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let parsed: Vec<Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a types.json array: {e}", path.display()));
        let file = Rc::new(parsed);
        self.loaded
            .borrow_mut()
            .insert(path.to_owned(), file.clone());
        file
    }

    /// `ResourceType` entries of one namespace and version: full name to the body type.
    fn resource_types(&self, namespace: &str, version: &str) -> BTreeMap<String, Ty> {
        let mut out = BTreeMap::new();
        let files = self
            .index
            .get(&namespace.to_lowercase())
            .and_then(|versions| versions.get(version));
        for path in files.into_iter().flatten() {
            let file = self.load(path);
            for (index, entry) in file.iter().enumerate() {
                if entry["$type"] == "ResourceType"
                    && let Some(name) = entry["name"].as_str()
                {
                    let ty = Ty {
                        file: file.clone(),
                        index,
                    };
                    let body = ty.follow(&entry["body"]);
                    out.entry(name.to_owned()).or_insert(body);
                }
            }
        }
        out
    }

    /// The body type of `type_name@version`, or why there is none.
    pub fn resource(&self, type_name: &str, version: &str) -> Result<Ty, String> {
        let namespace = type_name.split('/').next().unwrap_or(type_name);
        let Some(versions) = self.index.get(&namespace.to_lowercase()) else {
            return Err(format!(
                "no published types for namespace {namespace} in the reference (add its folder \
                 from Azure/bicep-types-az `generated/`)"
            ));
        };
        let wanted = format!("{type_name}@{version}");
        let types = self.resource_types(namespace, version);
        if let Some(body) = types.get(&wanted) {
            return Ok(body.clone());
        }
        if let Some(real) = types.keys().find(|name| name.eq_ignore_ascii_case(&wanted)) {
            return Err(format!("wrong casing: `{wanted}` is `{real}`"));
        }
        let known: BTreeSet<&String> = versions
            .keys()
            .filter(|v| {
                self.resource_types(namespace, v)
                    .keys()
                    .any(|n| n.eq_ignore_ascii_case(&format!("{type_name}@{v}")))
            })
            .collect();
        if known.is_empty() {
            Err(format!(
                "resource type {type_name} does not exist in any published API version of {namespace}"
            ))
        } else {
            Err(format!(
                "{type_name} has no API version {version} (published here: {}; the reference \
                 holds stable versions from 2022 and the previews its README lists)",
                known.into_iter().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}
